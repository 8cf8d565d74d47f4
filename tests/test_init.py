"""`import explain` is cheap and torch-free; the torch side loads on first use."""

import os
import pathlib
import subprocess
import sys

import explain

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


def test_numpy_side_works_with_torch_blocked():
    result = _run(
        """
import sys
sys.modules["torch"] = None  # any `import torch` now raises ImportError
import explain
print(explain.export.save.__name__, explain.analysis.stable_pca.__name__,
      explain.adapters.from_attentions.__name__, explain.tasks.get("reverse").name,
      explain.Trace.__name__, explain.positional.sinusoidal(2, 4).shape)
try:
    explain.TinyTransformer
except ImportError:
    print("torch side needs torch")
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == [
        "save stable_pca from_attentions reverse Trace (2, 4)",
        "torch side needs torch",
    ]


def test_torch_side_names_resolve_lazily():
    from explain.model import TinyTransformer
    from explain.run import Run, train
    from explain.schedule import RecordSchedule
    from explain.trainer import Trainer

    assert explain.TinyTransformer is TinyTransformer
    assert explain.train is train  # the function, not a module of the same name
    assert (explain.Run, explain.RecordSchedule, explain.Trainer) == (Run, RecordSchedule, Trainer)
    assert set(explain.__all__) <= set(dir(explain))


def test_unknown_attribute_is_an_attribute_error():
    try:
        explain.no_such_thing  # noqa: B018
    except AttributeError as error:
        assert "no_such_thing" in str(error)
    else:
        raise AssertionError("expected AttributeError")
