"""Tests for explain/lab/patching.py and Task.corrupt: corrupted twins, activation patching, path
patching.

Every effect is checked against a patch written here with plain torch hooks on the model's
Linear modules (W_o's input is the heads' z side by side, W_qkv's output their q, k and v,
W_out's input the MLP's hook_post, a block's output the residual stream), not through the lab
or the HookPoints; the answers of each twin are worked out by hand from the task's rule.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pytest
import torch

from explain import analysis, tasks
from explain.lab.patching import WHERE, Patching, corrupt, patch, path_patch
from explain.model import TinyTransformer

MakeModel = Callable[..., TinyTransformer]
REVERSE = tasks.get("reverse")  # vocab 11, context 12: fits conftest's SMALL model
CLEAN = REVERSE.probe().inputs[0]  # 3 1 4 1 5 9 > 9 5 1 4 1
TWIN = corrupt(REVERSE)
MASK = np.flatnonzero(REVERSE.probe().mask[0])  # the answer positions 5..10


def _loud(model: TinyTransformer) -> TinyTransformer:
    """W_o and W_out scaled up 30x (at initialisation a head moves the logits by ~1e-4, too
    little for a test that mixes up two heads to fail) and the unembedding tied to the token
    embedding, so each position's prediction depends on its input and the answers of a clean
    and a corrupted run differ (untied, they are the same token everywhere)."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if ".W_o." in name or ".W_out." in name:
                param.mul_(30.0)
        model.unembed.weight.copy_(model.embed.W_E.weight)
    return model


def _no_hooks(model: TinyTransformer) -> bool:
    return all(not hp.fns for hp in model.hook_dict.values())


def _tensor(ids: np.ndarray) -> torch.Tensor:
    return torch.tensor(ids[None])  # (1, T)


def _run(model: TinyTransformer, ids: np.ndarray, hooks=()) -> torch.Tensor:
    """Logits (1, T, vocab) with torch hooks ``(module, "pre" | "post", fn)`` in place."""
    handles = [
        module.register_forward_pre_hook(fn) if kind == "pre" else module.register_forward_hook(fn)
        for module, kind, fn in hooks
    ]
    try:
        with torch.no_grad():
            return model(_tensor(ids))
    finally:
        for handle in handles:
            handle.remove()


def _metric_by_hand(model: TinyTransformer, scored=MASK):
    """The default metric, written out: logit of the clean prediction minus logit of the
    corrupted prediction, averaged over the scored positions where the two differ."""
    clean, corrupted = _run(model, CLEAN)[0].argmax(-1), _run(model, TWIN)[0].argmax(-1)
    where = [int(p) for p in scored if clean[p] != corrupted[p]]
    assert where, "the test needs answers that differ"

    def metric(logits: torch.Tensor) -> float:
        return float(np.mean([float(logits[0, p, clean[p]] - logits[0, p, corrupted[p]])
                              for p in where]))  # fmt: skip

    return metric, where


def _normalised(value: float, model: TinyTransformer, metric) -> float:
    clean, corrupted = metric(_run(model, CLEAN)), metric(_run(model, TWIN))
    return (value - corrupted) / (clean - corrupted)


def _capture(store: dict, key: str, pre: bool):
    def hook(module, args, output=None):
        store[key] = (args[0] if pre else output).detach().clone()

    return hook


def _replace_columns(source: torch.Tensor, columns: slice, positions=slice(None)):
    """A pre-hook putting ``source``'s columns (and positions) into a Linear's input."""

    def hook(module, args):
        x = args[0].clone()
        x[:, positions, columns] = source[:, positions, columns]
        return (x,)

    return hook


# ---------------------------------------------------------------------------- corrupted twins


def _answers_by_hand(name: str, digits: np.ndarray) -> np.ndarray:
    return {"copy": digits, "reverse": digits[::-1], "sort": np.sort(digits)}[name]


@pytest.mark.parametrize("name", ["copy", "reverse", "sort"])
def test_a_digit_twin_changes_every_answer_digit(name):
    task = tasks.get(name)
    ids = task.probe().inputs[0]
    n = task.length
    twin = corrupt(task)
    assert twin.shape == ids.shape and twin.dtype == np.int64
    assert twin[n] == ids[n] == task.vocab.index(">")
    clean_answer, twin_answer = _answers_by_hand(name, ids[:n]), _answers_by_hand(name, twin[:n])
    assert (clean_answer != twin_answer).all(), (clean_answer, twin_answer)
    assert np.array_equal(twin[n + 1 :], twin_answer[:-1])  # the twin is a sequence of the task
    if name != "sort":  # copy and reverse move the same digits
        assert sorted(twin[:n]) == sorted(ids[:n])


def test_induction_twin_permutes_the_first_copy_so_every_answer_changes():
    task = tasks.get("induction")
    probe = task.probe()
    ids, twin = probe.inputs[0], corrupt(task)
    text = lambda row: "".join(task.vocab[i] for i in row[1:])  # noqa: E731
    assert text(ids) == "quickmaplemaplebrow"
    assert text(twin)[:5] == "quick" and text(twin)[10:] == "maplebrow"
    assert sorted(text(twin)[5:10]) == sorted("maple") and text(twin)[5:10] != "maple"
    for q in np.flatnonzero(probe.mask[0]):  # what induction copies: the letter after the first
        first = int(np.flatnonzero(twin[:q] == twin[q])[0])  # occurrence of the current letter
        assert twin[first + 1] != probe.targets[0, q], (q, text(twin))


def test_translate_twin_swaps_each_noun_for_one_of_the_other_gender():
    from explain.tasks import _NOUNS  # the task's own table: English -> (French, gender)

    task = tasks.get("translate")
    source = task.probe().source[0]
    twin = corrupt(task)  # the source, the encoder's input
    words, twin_words = [task.vocab[i] for i in source], [task.vocab[i] for i in twin]
    for word, new in zip(words, twin_words, strict=True):
        if word in _NOUNS:
            assert new in _NOUNS and _NOUNS[new][1] != _NOUNS[word][1], (word, new)
        else:
            assert new == word


def test_text_twin_is_the_same_characters_in_another_order():
    task = tasks.get("text")
    ids = task.probe().inputs[0]
    twin = corrupt(task)
    assert sorted(twin) == sorted(ids) and not np.array_equal(twin, ids)


@pytest.mark.parametrize("name", tasks.available())
def test_every_task_has_a_twin_fixed_by_its_seed(name):
    task = tasks.get(name)
    twin = corrupt(task)
    probe = task.probe()
    ids = probe.inputs[0] if probe.source is None else probe.source[0]
    assert twin.shape == ids.shape and not np.array_equal(twin, ids)
    assert np.array_equal(twin, corrupt(task, ids, rng=0))  # default seed 0
    assert np.array_equal(corrupt(task, rng=5), task.corrupt(ids, np.random.default_rng(5)))


def test_corrupt_says_what_is_wrong():
    class Plain(tasks.CopyTask):
        name = "plain"
        _corrupt = tasks.Task._corrupt  # a task that never said how to corrupt it

    with pytest.raises(NotImplementedError, match=r"task 'plain' \(Plain\) has no corrupted"):
        corrupt(Plain())
    reverse, induction = tasks.get("reverse"), tasks.get("induction")
    with pytest.raises(ValueError, match=r"one sequence .*got shape \(1, 12\)"):
        reverse.corrupt(reverse.probe().inputs)
    with pytest.raises(ValueError, match=r"6 digits, '>', then 5 digits \(12 tokens\); got"):
        reverse.corrupt(CLEAN[:-1])
    with pytest.raises(ValueError, match="induction ids hold no repeated run"):
        induction.corrupt(np.arange(20))
    with pytest.raises(ValueError, match=r"ids hold \[11\]; task 'reverse' has ids 0..10"):
        reverse.corrupt([11, *CLEAN[1:]])
    with pytest.raises(ValueError, match="rng must be a numpy Generator, an int seed or None"):
        reverse.corrupt(CLEAN, rng="0")


# ---------------------------------------------------------------------------- patching


@pytest.fixture
def model(make_model: MakeModel) -> TinyTransformer:
    return _loud(make_model())


def test_one_head_patched_by_hand_equals_patch(model):
    metric, where = _metric_by_hand(model)
    result = patch(model, CLEAN, TWIN, where="heads", task=REVERSE)
    assert result.answer_positions == tuple(where)
    d_head = model.config.d_head
    for layer in range(2):
        W_o = model.blocks[layer].attn.W_o  # its input: every head's z side by side
        clean_z = {}
        _run(model, CLEAN, [(W_o, "pre", _capture(clean_z, "z", pre=True))])
        for head in range(2):
            columns = slice(head * d_head, (head + 1) * d_head)
            logits = _run(model, TWIN, [(W_o, "pre", _replace_columns(clean_z["z"], columns))])
            by_hand = _normalised(metric(logits), model, metric)
            assert result.effect[layer, head] == pytest.approx(by_hand, abs=1e-5)
    assert np.ptp(result.effect) > 0.01, result.effect  # the heads differ: the check can fail


@pytest.mark.parametrize("where", ["head_pos", "resid", "mlp"])
def test_a_position_patched_by_hand_equals_patch(model, where):
    metric, _ = _metric_by_hand(model)
    result = patch(model, CLEAN, TWIN, where=where, task=REVERSE)
    d_head, layer, position = model.config.d_head, 1, 8
    if where == "head_pos":  # head 1's z at one position: W_o's input columns
        module, kind, columns = model.blocks[layer].attn.W_o, "pre", slice(d_head, 2 * d_head)
        expected = result.effect[layer, 1, position]
    elif where == "resid":  # what enters block 1: block 0's output
        module, kind, columns = model.blocks[layer - 1], "post", slice(None)
        expected = result.effect[layer, position]
    else:  # the MLP's post-GELU activations: W_out's input
        module, kind, columns = model.blocks[layer].mlp.W_out, "pre", slice(None)
        expected = result.effect[layer, position]
    clean = {}
    _run(model, CLEAN, [(module, kind, _capture(clean, "x", pre=kind == "pre"))])
    if kind == "pre":
        hook = _replace_columns(clean["x"], columns, position)
    else:

        def hook(module, args, output):
            output = output.clone()
            output[:, position] = clean["x"][:, position]
            return output

    logits = _run(model, TWIN, [(module, kind, hook)])
    assert expected == pytest.approx(_normalised(metric(logits), model, metric), abs=1e-5)


def test_patching_every_position_gives_one_and_nothing_gives_zero(model):
    everything, nothing = list(range(len(CLEAN))), []
    for where in ("resid", "head_pos", "mlp"):
        result = patch(model, CLEAN, TWIN, where=where, positions=[everything, nothing])
        assert np.allclose(result.effect[..., 1], 0.0, atol=1e-6), (where, result.effect)
        assert result.positions == (tuple(everything), ())
    resid = patch(model, CLEAN, TWIN, where="resid", positions=[everything, nothing])
    assert np.allclose(resid.effect[:, 0], 1.0, atol=1e-6)  # every layer's input, last included
    heads = patch(model, CLEAN, TWIN, where="heads")
    head_pos = patch(model, CLEAN, TWIN, where="head_pos", positions=[everything])
    assert np.allclose(heads.effect, head_pos.effect[..., 0], atol=1e-6)


def test_patching_fields_and_shapes(model):
    T = len(CLEAN)
    dims = {"heads": ("layer", "head"), "head_pos": ("layer", "head", "pos"),
            "resid": ("layer", "pos"), "mlp": ("layer", "pos")}  # fmt: skip
    for where, shape in zip(WHERE, [(2, 2), (2, 2, T), (2, T), (2, T)], strict=True):
        result = patch(model, CLEAN, TWIN, where=where, task=REVERSE)
        assert isinstance(result, Patching) and result.where == where
        assert result.effect.shape == shape and result.dims == dims[where]
        assert result.positions == (None if where == "heads" else tuple((p,) for p in range(T)))
    assert result.clean_tokens == REVERSE.probe_tokens()
    assert result.corrupt_tokens == [REVERSE.vocab[i] for i in TWIN]
    assert result.metric == "logit difference" and result.receiver is None
    assert len(result.clean_answers) == len(result.answer_positions)
    assert result.clean_metric > 0 > result.corrupt_metric
    bare = patch(model, torch.tensor(CLEAN), list(TWIN), where="mlp", positions=[3, [4, 5]])
    assert bare.clean_tokens == CLEAN.tolist() and bare.positions == ((3,), (4, 5))
    assert bare.effect.shape == (2, 2)
    # no task: every position where the clean and the corrupted predictions differ
    _, differ = _metric_by_hand(model, scored=range(T))
    assert bare.answer_positions == tuple(differ) and len(differ) > len(result.answer_positions)


def test_patches_split_over_several_runs_give_the_same_effects(model, monkeypatch):
    from explain.lab import patching

    whole = patch(model, CLEAN, TWIN, where="head_pos", task=REVERSE)
    path = path_patch(model, CLEAN, TWIN, receiver=(1, 1, "k"), task=REVERSE)
    monkeypatch.setattr(patching, "ROWS_PER_RUN", 1)  # 48 and 2 runs of one row each
    assert np.allclose(patch(model, CLEAN, TWIN, "head_pos", task=REVERSE).effect, whole.effect)
    again = path_patch(model, CLEAN, TWIN, receiver=(1, 1, "k"), task=REVERSE)
    assert np.allclose(again.effect, path.effect, equal_nan=True)


def test_a_metric_of_ones_own(model):
    def last_logit(logits: torch.Tensor) -> torch.Tensor:
        return logits[0, -1, 3]

    result = patch(model, CLEAN, TWIN, where="resid", metric=last_logit)
    with torch.no_grad():
        clean, corrupted = model(_tensor(CLEAN))[0, -1, 3], model(_tensor(TWIN))[0, -1, 3]
    assert result.clean_metric == pytest.approx(float(clean), abs=1e-6)
    assert result.corrupt_metric == pytest.approx(float(corrupted), abs=1e-6)
    assert result.metric == "last_logit" and result.answer_positions is None
    everywhere = patch(model, CLEAN, TWIN, "resid", metric=last_logit, positions=[range(12)])
    assert np.allclose(everywhere.effect, 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="answer_positions chooses where the default metric"):
        patch(model, CLEAN, TWIN, metric=last_logit, answer_positions=[3])
    chosen = patch(model, CLEAN, TWIN, "resid", answer_positions=[9, 10], task=REVERSE)
    assert chosen.answer_positions == (9, 10)


def test_path_patching_by_hand_equals_path_patch(make_model: MakeModel):
    model = _loud(make_model(n_layers=3))
    metric, _ = _metric_by_hand(model, scored=range(len(CLEAN)))  # no task: every position
    d, d_head = model.config.d_model, model.config.d_head
    clean, corrupted = {}, {}
    W_o = [model.blocks[layer].attn.W_o for layer in range(3)]
    _run(model, CLEAN, [(W_o[i], "pre", _capture(clean, i, pre=True)) for i in range(2)])
    _run(model, TWIN, [(W_o[i], "pre", _capture(corrupted, i, pre=True)) for i in range(2)])
    for receiver_head, part in [(0, "k"), (1, "q"), (1, "v")]:
        result = path_patch(model, CLEAN, TWIN, receiver=(2, receiver_head, part))
        assert result.dims == ("layer", "head") and result.receiver == (2, receiver_head, part)
        assert np.isnan(result.effect[2]).all() and result.where == "path"
        # q, k, v of the receiver: columns of W_qkv's output (before rotary: none here)
        offset = "qkv".index(part) * d + receiver_head * d_head
        columns = slice(offset, offset + d_head)
        W_qkv = model.blocks[2].attn.W_qkv
        for layer, head in [(0, 0), (0, 1), (1, 0), (1, 1)]:
            hooks = []  # every head of layers 0 and 1 frozen at corrupted, the sender clean
            for i in range(2):
                z = corrupted[i].clone()
                if i == layer:
                    cut = slice(head * d_head, (head + 1) * d_head)
                    z[..., cut] = clean[i][..., cut]
                hooks.append((W_o[i], "pre", _replace_columns(z, slice(None))))
            received = {}
            _run(model, TWIN, [*hooks, (W_qkv, "post", _capture(received, "qkv", pre=False))])

            def put_back(module, args, output, received=received["qkv"], columns=columns):
                output = output.clone()
                output[..., columns] = received[..., columns]
                return output

            logits = _run(model, TWIN, [(W_qkv, "post", put_back)])
            by_hand = _normalised(metric(logits), model, metric)
            assert result.effect[layer, head] == pytest.approx(by_hand, abs=1e-5), part
        assert np.nanmax(np.abs(result.effect)) > 1e-3  # not all zero: the check can fail


# ---------------------------------------------------------------------------- errors and hooks


def test_patch_and_path_patch_say_what_is_wrong(model, make_model: MakeModel):
    with pytest.raises(ValueError, match="clean_ids has 12 positions and corrupt_ids 11"):
        patch(model, CLEAN, TWIN[:-1])
    with pytest.raises(ValueError, match=r"where must be one of \['heads', 'head_pos', 'resid'"):
        patch(model, CLEAN, TWIN, where="attention")
    with pytest.raises(ValueError, match=r"where='heads' patches each head at every position"):
        patch(model, CLEAN, TWIN, where="heads", positions=[1])
    with pytest.raises(ValueError, match=r"positions must be ints in \[0, 11\]; got 12"):
        patch(model, CLEAN, TWIN, where="resid", positions=[12])
    with pytest.raises(ValueError, match=r"receiver \(0, 1, 'k'\) is in layer 0"):
        path_patch(model, CLEAN, TWIN, receiver=(0, 1, "k"))
    with pytest.raises(ValueError, match=r"receiver \(1, 2, 'k'\) is out of range.*heads 0..1"):
        path_patch(model, CLEAN, TWIN, receiver=(1, 2, "k"))
    with pytest.raises(ValueError, match=r"receiver \(2, 0, 'q'\) is out of range: layers 0..1"):
        path_patch(model, CLEAN, TWIN, receiver=(2, 0, "q"))
    with pytest.raises(ValueError, match=r"one of \['q', 'k', 'v'\]\); got \(1, 0, 'z'\)"):
        path_patch(model, CLEAN, TWIN, receiver=(1, 0, "z"))
    with pytest.raises(ValueError, match=r"same value on the clean input \(1\) and the corr"):
        patch(model, CLEAN, TWIN, metric=lambda logits: 1.0)
    with pytest.raises(ValueError, match=r"same value on the clean input \(0\) and the corr"):
        patch(model, CLEAN, CLEAN)  # nothing corrupted: no answer differs
    with pytest.raises(ValueError, match=r"one-element tensor; got a tensor of shape \(1, 12\)"):
        patch(model, CLEAN, TWIN, metric=lambda logits: logits[..., 0])
    with pytest.raises(ValueError, match="clean_ids holds ids \\[11\\]"):
        patch(model, [11, *CLEAN[1:]], TWIN)
    translate = tasks.get("translate")
    seq2seq = make_model(kind="encoder-decoder", vocab_size=translate.vocab_size)
    with pytest.raises(NotImplementedError, match="decoder-only models; this one is encoder-dec"):
        patch(seq2seq, [1, 2, 3], [1, 2, 4])


def test_hooks_are_removed_and_the_mode_restored_when_the_metric_raises(model):
    model.train()
    before = _run(model.eval(), CLEAN)
    model.train()
    calls = []

    def fails_late(logits: torch.Tensor) -> float:
        calls.append(1)
        if len(calls) > 3:  # after the clean and corrupted runs, inside the patched ones
            raise RuntimeError("metric failed")
        return float(logits[0, -1, len(calls)])

    for call in (
        lambda: patch(model, CLEAN, TWIN, where="head_pos", metric=fails_late),
        lambda: path_patch(model, CLEAN, TWIN, receiver=(1, 0, "v"), metric=fails_late),
    ):
        calls.clear()
        with pytest.raises(RuntimeError, match="metric failed"):
            call()
        assert _no_hooks(model) and model.training
    assert torch.equal(_run(model.eval(), CLEAN), before)


# ---------------------------------------------------------------------------- trained induction


@functools.cache
def _induction(seed: int):
    import explain
    from explain.run import default_train_config

    task = tasks.get("induction")  # the recommended RoPE model and training: 500 steps,
    return explain.train(task, train_config=default_train_config(task, seed=seed))  # 12-70 s


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_patching_finds_the_induction_circuit(seed):
    run = _induction(seed)
    task, model = run.task, run.model
    scores = analysis.head_scores(run.trace)
    previous = int(scores["previous_token"][-1, 0].argmax())  # layer 0
    induction = scores["induction"][-1, 1]  # [head] of layer 1
    clean, twin = task.probe().inputs[0], corrupt(task)
    heads = patch(model, clean, twin, where="heads", task=task)
    # The clean run's answers are the task's, the corrupted run's what induction copies there.
    mask = task.probe().mask[0]
    assert heads.answer_positions == tuple(np.flatnonzero(mask))
    assert heads.clean_answers == list("aple") and heads.corrupt_answers == list("mlam")
    # Measured (seeds 0, 1, 2; effects of layer 0 / layer 1 heads):
    #   0: [.025 .444 .002 .046] / [.331 .163 .272 .188]; induction scores .90 .73 .80 .87
    #   1: [.001 -.002 .331 .003] / [.121 .475 .241 .052]; induction scores .98 .97 .96 .93
    #   2: [-.003 -.010 .003 .415] / [.109 .406 .126 .243]; induction scores .99 .99 .97 .99
    # One previous-token head feeds all four induction heads, so restoring it brings back more
    # than restoring any one of them (seeds 0, 2); among near-equal induction scores the head
    # that writes the answer most is not always the best-scoring one (seed 1: L1H1, not L1H0).
    top_layer, top_head = heads.top()
    assert (top_layer, top_head) == (0, previous) or induction[top_head] >= 0.5, heads.effect
    assert int(heads.effect[0].argmax()) == previous, heads.effect
    assert induction[int(heads.effect[1].argmax())] >= 0.5, (heads.effect, induction)
    # The best-scoring induction head's keys get the previous-token head's output (K-compos-
    # ition): through k it is the largest sender; through q and v it does next to nothing.
    # Measured effect of the previous-token head through k / q / v (receiver L1H0, L1H0,
    # L1H1): seed 0: .196 / -.003 / .001, seed 1: .041 / .000 / .008, seed 2: .115 / .000 /
    # .000. Summed over the four layer-1 heads' keys it is .39 / .28 / .29, most of its whole
    # effect above (.44 / .33 / .42).
    receiver = int(induction.argmax())
    through = {
        part: path_patch(model, clean, twin, receiver=(1, receiver, part), task=task)
        for part in "qkv"
    }
    assert through["k"].top() == (0, previous), through["k"].effect
    k_effect = through["k"].effect[0, previous]
    assert k_effect > 0.02, through["k"].effect
    for part in "qv":
        assert abs(through[part].effect[0, previous]) < k_effect / 2, through[part].effect
