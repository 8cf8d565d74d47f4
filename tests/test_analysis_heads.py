"""Head analysis on attention (explain.analysis): pattern scores, emergence, Jensen-Shannon
similarity, entropy and rollout, each checked against a hand-made pattern or an independent
loop-based computation; then on trained models (slow)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from explain import analysis, tasks
from explain.adapters import from_attentions
from explain.trace import Trace

INDUCTION_PROBE = tasks.get(
    "induction"
).probe_tokens()  # <bos> q u i c k m a p l e m a p l e b r o w
REVERSE_PROBE = tasks.get("reverse").probe_tokens()  # 3 1 4 1 5 9 > 9 5 1 4 1
PATTERNS = ("previous_token", "self", "first_token", "mirror", "induction")


def causal_uniform(size: int) -> np.ndarray:
    """[q, k]: each row spread evenly over itself and the keys before it."""
    return np.tril(np.ones((size, size))) / np.arange(1, size + 1)[:, None]


def pure(pattern: str, tokens: list[str]) -> np.ndarray:
    """[q, k]: one-hot on the pattern's target key in the rows where it is defined (written out
    by position, not with the library's rule), causal uniform in the other rows."""
    size = len(tokens)
    attention = causal_uniform(size)
    for q in range(size):
        if pattern == "previous_token" and q >= 1:
            key = q - 1
        elif pattern == "self":
            key = q
        elif pattern == "first_token":
            key = 0
        elif pattern == "mirror" and size - 1 - q < q:
            key = size - 1 - q
        elif pattern == "induction" and tokens[q] in tokens[:q]:
            key = tokens.index(tokens[q]) + 1  # the probe's letters repeat once at most
        else:
            continue
        attention[q] = np.eye(size)[key]
    return attention


def make_trace(
    patterns: np.ndarray, tokens: list[str] | None = None, steps: list[int] | None = None
) -> Trace:
    """A trace of ``patterns`` [snapshot, layer, head, q, k] with ``tokens`` as the probe."""
    steps = list(range(len(patterns))) if steps is None else steps
    tensors = {f"blocks.{i}.attn.hook_pattern": patterns[:, i] for i in range(patterns.shape[1])}
    meta = {} if tokens is None else {"probe": {"tokens": list(tokens)}}
    return Trace.from_arrays(meta, steps, {}, steps, tensors)


def one_head(attention: np.ndarray) -> np.ndarray:
    return attention[None, None, None]  # [snapshot, layer, head, q, k]


# -- head_scores -------------------------------------------------------------------------------
@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pure_pattern_scores_one_and_the_others_low(pattern):
    trace = make_trace(one_head(pure(pattern, INDUCTION_PROBE)), INDUCTION_PROBE)
    scores = analysis.head_scores(trace)
    assert list(scores) == list(PATTERNS)
    assert scores[pattern].shape == (1, 1, 1)
    assert scores[pattern][0, 0, 0] == pytest.approx(1.0, abs=1e-9)
    for other in set(PATTERNS) - {pattern}:
        assert scores[other][0, 0, 0] < 0.5, (other, scores[other])


def test_uniform_attention_scores_about_one_over_the_keys():
    size = len(INDUCTION_PROBE)
    scores = analysis.head_scores(
        make_trace(one_head(np.full((size, size), 1 / size)), INDUCTION_PROBE)
    )
    for pattern in PATTERNS:  # every defined row has exactly one target key
        assert scores[pattern][0, 0, 0] == pytest.approx(1 / size, abs=1e-6)
    causal = analysis.head_scores(make_trace(one_head(causal_uniform(size)), INDUCTION_PROBE))
    expected = np.mean([1 / (q + 1) for q in range(1, size)])  # rows 1.. of previous_token
    assert causal["previous_token"][0, 0, 0] == pytest.approx(expected)
    assert all(causal[p][0, 0, 0] < 0.5 for p in PATTERNS)


def test_mirror_is_what_reverse_answers_need():
    # Input 3 1 4 1 5 9 > 9 5 1 4 1: the '>' (row 6) predicts 9, the last digit (key 5); row 7
    # (input 9) predicts 5 (key 4); ...; row 11 predicts 3 (key 0).
    size = len(REVERSE_PROBE)
    answer = {6: 5, 7: 4, 8: 3, 9: 2, 10: 1, 11: 0}
    attention = causal_uniform(size)
    for q, key in answer.items():
        assert REVERSE_PROBE[key] == tasks.get("reverse").probe().targets[0, q].astype(str)
        attention[q] = np.eye(size)[key]
    scores = analysis.head_scores(make_trace(one_head(attention), REVERSE_PROBE))
    assert scores["mirror"][0, 0, 0] == pytest.approx(1.0)
    # one row off (the answer token's own mirror, forgetting the shift) is not a mirror head
    shifted = causal_uniform(size)
    for q, key in answer.items():
        shifted[q] = np.eye(size)[min(key + 1, q)]
    assert analysis.head_scores(make_trace(one_head(shifted), REVERSE_PROBE))["mirror"] < 0.2


def test_scores_have_snapshot_layer_head_axes():
    size = len(INDUCTION_PROBE)
    heads = np.stack([pure(p, INDUCTION_PROBE) for p in PATTERNS[:4]]).reshape(2, 2, size, size)
    snapshots = np.stack([np.broadcast_to(causal_uniform(size), heads.shape), heads])
    scores = analysis.head_scores(make_trace(snapshots, INDUCTION_PROBE, steps=[0, 100]))
    assert scores["mirror"].shape == (2, 2, 2)
    for index, pattern in enumerate(PATTERNS[:4]):  # head (layer, head) = divmod(index, 2)
        assert scores[pattern][1].reshape(-1)[index] == pytest.approx(1.0)
        assert scores[pattern][1].reshape(-1).argmax() == index
        assert scores[pattern][0].max() < 0.5


def test_patterns_without_a_defined_row_are_nan():
    size = 5
    no_tokens = analysis.head_scores(make_trace(one_head(causal_uniform(size))))
    assert np.isnan(no_tokens["induction"]).all()
    assert not np.isnan(no_tokens["previous_token"]).any()
    no_repeat = analysis.head_scores(make_trace(one_head(causal_uniform(size)), list("abcde")))
    assert np.isnan(no_repeat["induction"]).all()
    one_token = analysis.head_scores(make_trace(one_head(np.ones((1, 1))), ["x"]))
    assert np.isnan([one_token[p] for p in PATTERNS]).all()


def test_scores_work_on_a_from_attentions_trace():
    attention = pure("induction", INDUCTION_PROBE)[None, None]  # [batch, head, q, k]
    trace = from_attentions([attention, np.eye(len(INDUCTION_PROBE))[None, None]], INDUCTION_PROBE)
    scores = analysis.head_scores(trace)
    assert scores["induction"][0, :, 0].round(9).tolist() == [1.0, 0.0]
    size = len(INDUCTION_PROBE)
    new = [q for q in range(1, size) if INDUCTION_PROBE[q] not in INDUCTION_PROBE[:q]]
    uniform_rows = sum(1 / (q + 1) for q in new) / (size - 1)  # rows of new letters: uniform
    assert scores["self"][0, :, 0].tolist() == pytest.approx([uniform_rows, 1.0])


def encoder_decoder_trace(source: int = 4, target: int = 5) -> Trace:
    cross = np.zeros((target, source))  # [q, k]: decoder row q looks at source S - 1 - q
    for q in range(target):
        cross[q, max(source - 1 - q, 0)] = 1.0
    tensors = {
        "encoder.blocks.0.attn.hook_pattern": np.full((1, 1, source, source), 1 / source),
        "decoder.blocks.0.attn.hook_pattern": one_head(np.eye(target))[0],
        "decoder.blocks.0.cross.hook_pattern": cross[None, None],
    }
    meta = {"probe": {"tokens": list("<abcd")[:target], "source_tokens": list("dcba")[:source]}}
    return Trace.from_arrays(meta, [0], {}, [0], tensors)


def test_encoder_decoder_scores_the_decoder_unless_told():
    trace = encoder_decoder_trace()
    assert analysis.head_scores(trace)["self"][0, 0, 0] == pytest.approx(1.0)  # decoder
    cross = analysis.head_scores(trace, part="cross")
    assert cross["mirror"][0, 0, 0] == pytest.approx(1.0)  # rows 0..3 look at keys 3..0
    assert np.isnan(cross["induction"]).all()
    encoder = analysis.head_scores(trace, part="encoder")
    assert encoder["first_token"][0, 0, 0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match=r"part 'self' is not in this trace; available: encoder"):
        analysis.head_scores(trace, part="self")


def test_bad_attention_raises_naming_what_was_expected():
    with pytest.raises(ValueError, match=r"no attention patterns.*it holds: embed.W_E"):
        analysis.head_scores(Trace.from_arrays({}, [0], {}, [0], {"embed.W_E": np.ones((1, 3, 2))}))
    three_d = Trace.from_arrays(
        {}, [0], {}, [0], {"blocks.0.attn.hook_pattern": np.ones((1, 3, 3))}
    )
    with pytest.raises(ValueError, match=r"must have shape \[snapshot, head, q_pos, k_pos\]"):
        analysis.head_scores(three_d)
    nan = one_head(causal_uniform(3))
    nan[0, 0, 0, 2, 1] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(first at index \(0, 0, 2, 1\)\)"):
        analysis.emergence(make_trace(nan))
    with pytest.raises(ValueError, match=r"expected attention weights in \[0, 1\]"):
        analysis.head_scores(make_trace(one_head(3 * np.eye(3))))
    with pytest.raises(ValueError, match=r"got 2 tokens for 3 query positions"):
        analysis.head_scores(make_trace(one_head(np.eye(3)), ["a", "b"]))
    ragged = {"blocks.0.attn.hook_pattern": np.ones((1, 2, 3, 3)) / 3}
    ragged["blocks.1.attn.hook_pattern"] = np.ones((1, 1, 3, 3)) / 3
    with pytest.raises(ValueError, match=r"blocks.1.* expected \(1, 2, 3, 3\)"):
        analysis.head_scores(Trace.from_arrays({}, [0], {}, [0], ragged))
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]; got 2.0"):
        analysis.emergence(make_trace(one_head(np.eye(3))), threshold=2)


# -- emergence ---------------------------------------------------------------------------------
def test_emergence_is_the_last_crossing_that_stays():
    size = 6
    weights = [0.1, 0.3, 0.6, 0.9, 0.2, 0.4, 0.55, 0.7, 0.5]  # rises, dips, rises again at 60
    steps = [0, 10, 20, 30, 40, 50, 60, 70, 80]
    snapshots = []
    for weight in weights:  # self score = weight; first_token score = 1 - weight (rows 1..)
        rows = weight * np.eye(size) + (1 - weight) * np.eye(size)[[0] * size]
        snapshots.append(np.stack([np.stack([rows, causal_uniform(size)])]))  # [layer, head, ..]
    trace = make_trace(np.stack(snapshots), list("abcdef"), steps)
    appeared = analysis.emergence(trace)
    assert appeared["self"].dtype == np.int64 and appeared["self"].shape == (1, 2)
    assert appeared["self"].tolist() == [[60, -1]]
    assert appeared["first_token"][0, 0] == 80  # 1 - 0.5: at the threshold counts as above
    assert analysis.emergence(trace, threshold=0.6)["first_token"][0, 0] == -1
    assert analysis.emergence(trace, threshold=0.05)["self"][0, 0] == 0  # above from the start
    assert analysis.emergence(trace, threshold=0.5)["induction"].tolist() == [[-1, -1]]  # NaN


# -- head_similarity ---------------------------------------------------------------------------
def js_distance_by_hand(p: np.ndarray, q: np.ndarray) -> float:
    """Mean over rows of the base-2 Jensen-Shannon distance, written out with loops."""
    total = 0.0
    for row_p, row_q in zip(p, q, strict=True):
        row_p, row_q = row_p / row_p.sum(), row_q / row_q.sum()
        divergence = 0.0
        for a, b in zip(row_p, row_q, strict=True):
            m = (a + b) / 2
            if a > 0:
                divergence += 0.5 * a * math.log2(a / m)
            if b > 0:
                divergence += 0.5 * b * math.log2(b / m)
        total += math.sqrt(max(divergence, 0.0))
    return total / len(p)


def random_causal(rng: np.random.Generator, size: int) -> np.ndarray:
    raw = np.tril(rng.random((size, size)) ** 4 + 1e-4)
    return raw / raw.sum(axis=-1, keepdims=True)


def test_head_similarity_is_the_jensen_shannon_distance():
    rng = np.random.default_rng(0)
    attention = np.stack([np.stack([random_causal(rng, 5) for _ in range(3)]) for _ in range(2)])
    attention[1, 2] = attention[0, 0]  # a duplicate, far from its twin in layer-major order
    similarity = analysis.head_similarity(attention)
    flat = attention.reshape(6, 5, 5)
    expected = [[js_distance_by_hand(flat[i], flat[j]) for j in range(6)] for i in range(6)]
    np.testing.assert_allclose(similarity.distance, expected, atol=1e-12)
    np.testing.assert_array_equal(similarity.distance, similarity.distance.T)
    assert (np.diag(similarity.distance) == 0).all()
    assert ((similarity.distance >= 0) & (similarity.distance <= 1)).all()
    order = similarity.order.tolist()
    assert sorted(order) == list(range(6))
    assert abs(order.index(0) - order.index(5)) == 1  # the twins sit side by side
    assert similarity.labels == ["L0H0", "L0H1", "L0H2", "L1H0", "L1H1", "L1H2"]
    ordered, labels = similarity.ordered()
    assert labels == [similarity.labels[i] for i in order]
    assert ordered[0, 1] == similarity.distance[order[0], order[1]]


def test_head_similarity_disjoint_heads_are_one_apart():
    attention = np.stack([np.eye(3), np.eye(3)[[0, 0, 1]]])[None]  # [1, 2, 3, 3]
    distance = analysis.head_similarity(attention).distance
    assert distance[0, 1] == pytest.approx(2 / 3)  # rows 1, 2 disjoint (1), row 0 equal (0)


def test_head_similarity_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[layer, head, q_pos, k_pos\]; got \(2, 3, 3\)"):
        analysis.head_similarity(np.ones((2, 3, 3)) / 3)
    with pytest.raises(ValueError, match=r"attention row \(0, 1\) sums to 0"):
        analysis.head_similarity(np.eye(3)[[0, 2, 1]] * [[1], [0], [1]] + np.zeros((1, 1, 3, 3)))


# -- entropy -----------------------------------------------------------------------------------
def test_entropy_over_training_is_the_mean_row_entropy_in_bits():
    rng = np.random.default_rng(1)
    patterns = np.stack([[[random_causal(rng, 4) for _ in range(2)]] for _ in range(3)])
    entropy = analysis.entropy_over_training(make_trace(patterns))
    assert entropy.shape == (3, 1, 2)
    for s in range(3):
        for h in range(2):
            rows = [-sum(p * math.log2(p) for p in row if p > 0) for row in patterns[s, 0, h]]
            assert entropy[s, 0, h] == pytest.approx(np.mean(rows), rel=1e-6)


# -- rollout -----------------------------------------------------------------------------------
def rollout_by_hand(attention: np.ndarray) -> np.ndarray:
    """Abnar & Zuidema 2020 with explicit loops: heads averaged, + identity, rows normalised,
    layers multiplied from the first up."""
    n_layers, n_heads, size, _ = attention.shape
    result = [[float(i == j) for j in range(size)] for i in range(size)]
    for layer in range(n_layers):
        mixed = [[0.0] * size for _ in range(size)]
        for i in range(size):
            for j in range(size):
                mixed[i][j] = sum(attention[layer, h, i, j] for h in range(n_heads)) / n_heads
                mixed[i][j] += float(i == j)
            total = sum(mixed[i])
            mixed[i] = [value / total for value in mixed[i]]
        result = [
            [sum(mixed[i][m] * result[m][j] for m in range(size)) for j in range(size)]
            for i in range(size)
        ]
    return np.array(result)


def test_rollout_matches_a_loop_computation():
    rng = np.random.default_rng(2)
    attention = np.stack([np.stack([random_causal(rng, 5) for _ in range(3)]) for _ in range(3)])
    rollout = analysis.attention_rollout(attention)
    np.testing.assert_allclose(rollout, rollout_by_hand(attention), atol=1e-12)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0)
    assert np.allclose(np.triu(rollout, 1), 0)  # causal in, causal out
    np.testing.assert_allclose(analysis.attention_rollout(list(attention)), rollout)


def test_rollout_of_identity_attention_is_identity():
    identity = np.broadcast_to(np.eye(4), (3, 2, 4, 4))
    np.testing.assert_allclose(analysis.attention_rollout(identity), np.eye(4))


def test_rollout_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[layer, head, q_pos, k_pos\]; got \(2, 4, 4\)"):
        analysis.attention_rollout(np.ones((2, 4, 4)) / 4)
    with pytest.raises(ValueError, match=r"layer 1 has shape \(1, 3, 3\); expected \[head, 4, 4\]"):
        analysis.attention_rollout([np.ones((1, 4, 4)) / 4, np.ones((1, 3, 3)) / 3])
    with pytest.raises(ValueError, match="at least one layer"):
        analysis.attention_rollout([])
    with pytest.raises(ValueError, match="NaN"):
        analysis.attention_rollout(np.full((1, 1, 2, 2), np.nan))


# -- trained models ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reverse_run():
    import explain

    return explain.train("reverse", train_config=explain.TrainConfig(steps=400, seed=0))  # ~8 s


@pytest.fixture(scope="module")
def induction_run():
    import explain

    return explain.train("induction")  # its recommended RoPE model and training; ~10 s


@pytest.mark.slow
@pytest.mark.parametrize("seed", [13, 29])  # the docstring's measurements cover seeds 0-11
def test_the_recommended_training_forms_the_induction_circuit_for_other_seeds(seed):
    import explain
    from explain.run import default_train_config

    task = tasks.get("induction")
    run = explain.train(task, train_config=default_train_config(task, seed=seed))
    scores = analysis.head_scores(run.trace)  # measured: 13: 0.97 / 0.98, 29: 0.94 / 0.99
    assert scores["induction"][-1][1].max() >= 0.5, scores["induction"][-1]
    assert scores["previous_token"][-1][0].max() >= 0.5, scores["previous_token"][-1]


@pytest.mark.slow
def test_a_trained_reverse_model_has_mirror_heads(reverse_run):
    trace = reverse_run.trace
    assert trace.scalar("val_accuracy")[1][-1] == 1.0
    mirror = analysis.head_scores(trace)["mirror"][-1]  # [layer, head]; measured 0.85-0.97
    assert mirror.max() >= 0.8, mirror
    layer, head = np.unravel_index(mirror.argmax(), mirror.shape)
    assert 0 <= analysis.emergence(trace)["mirror"][layer, head] <= 400  # measured ~60


@pytest.mark.slow
def test_a_trained_induction_model_has_an_induction_head_in_layer_1(induction_run):
    trace = induction_run.trace
    assert trace.scalar("val_accuracy")[1][-1] == 1.0
    induction = analysis.head_scores(trace)["induction"][-1]  # measured: L1H0 0.98
    assert induction[1].max() >= 0.5, induction


@pytest.mark.slow
def test_a_trained_induction_model_has_a_previous_token_head_in_layer_0(induction_run):
    previous = analysis.head_scores(induction_run.trace)["previous_token"][-1]  # L0H3 0.95
    assert previous[0].max() >= 0.5, previous


@pytest.mark.slow
def test_the_induction_circuit_forms_where_the_loss_drops(induction_run):
    # Olsson et al. (2022): the heads appear in a phase change, the loss falling off its plateau
    # at the same time. Measured (seed 0): previous-token head from step 280, induction head
    # from 288, the loss ~1.7 fifty steps before, ~0.03 fifty steps after.
    trace = induction_run.trace
    scores, appeared = analysis.head_scores(trace), analysis.emergence(trace)
    previous = appeared["previous_token"][0, scores["previous_token"][-1, 0].argmax()]
    induction = appeared["induction"][1, scores["induction"][-1, 1].argmax()]
    assert 0 < previous <= induction + 20 and 0 < induction < 450, (previous, induction)
    steps, loss = trace.scalar("loss")
    before = loss[(steps > induction - 60) & (steps <= induction - 40)].mean()
    after = loss[(steps > induction + 40) & (steps <= induction + 60)].mean()
    assert before > 1.0 and after < 0.2, (before, after)


@pytest.mark.slow
def test_circuits_names_the_previous_token_and_the_induction_head(induction_run):
    from explain import lab

    circuits = lab.circuits(induction_run)
    text = str(circuits)
    assert re.search(r"layer 0 head \d: previous-token head, score", text), text
    assert re.search(r"layer 1 head \d: induction head, score", text), text
    # and the model needs them: with all the named heads of either kind off, it cannot copy
    model, task = induction_run.model, induction_run.task
    for layer, role in ((0, "previous_token"), (1, "induction")):
        heads = [
            (layer, r["head"]) for r in circuits.table if (r["layer"], r["role"]) == (layer, role)
        ]
        assert lab.evaluate(model, task, heads)["accuracy"] < 0.2, (role, heads)
