"""lab.circuits names the path path patching found: the sender, the receiver's input, and its
share, only where the sender restores enough of the clean answer (explain.lab.study)."""

from __future__ import annotations

import math

import pytest

from explain.lab.study import PATH_MIN_EFFECT, strongest_path

NAN = math.nan


def record(q, k, v, receiver=(1, 0)) -> dict:
    return {"path": {"receiver": list(receiver), "q": q, "k": k, "v": v}}


def test_the_largest_sender_and_input_are_named_with_their_share():
    path = strongest_path(
        record(
            q=[[0.0, 0.01, 0.0], [NAN] * 3],
            k=[[0.02, 0.3, -0.1], [NAN] * 3],
            v=[[0.0, 0.0, 0.07], [NAN] * 3],
        )
    )
    assert path["heads"] == ((0, 1), (1, 0)) and path["input"] == "k"
    assert path["effect"] == pytest.approx(0.3)
    # of the positive effects through every input: 0.01 + 0.02 + 0.3 + 0.07 (the -0.1 is not)
    assert path["share"] == pytest.approx(0.3 / 0.4)


def test_no_path_is_named_below_the_threshold_or_without_a_record():
    small = PATH_MIN_EFFECT / 2
    assert strongest_path(record([[small]], [[small]], [[-0.5]])) is None
    assert strongest_path(None) is None
    assert strongest_path({"path": None}) is None


def test_the_circuits_line_names_roles_and_input(monkeypatch):
    from types import SimpleNamespace

    import numpy as np

    from explain.lab import study

    patching = record(q=[[0.0, 0.0]], k=[[0.0, 0.2]], v=[[0.0, 0.0]], receiver=(1, 0))
    trace = SimpleNamespace(meta={"lab": {"patching": patching}})
    heads = SimpleNamespace(
        layers=2,
        heads=2,
        roles=[["", "previous_token"], ["induction", ""]],
        role_scores=np.zeros((2, 2)),
        emergence={"previous_token": np.zeros((2, 2)), "induction": np.zeros((2, 2))},
        ablated_accuracy=np.zeros((2, 2)),
        circuits=["layer 0 head 1: previous-token head"],
    )
    monkeypatch.setattr(study.views, "heads", lambda _: heads)
    run = SimpleNamespace(model=object(), task=object(), trace=trace)
    lines = study.circuits(run).lines
    assert lines[-1] == (
        "L0H1 (previous-token head) -> L1H0 keys (induction head): 1.00 of the path effect into "
        "it (0.20 of the clean answer restored)"
    )
