"""Tests for explain/cli.py: the commands, their help, and exit code 2 for a user's mistake."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _export_traces import synthetic_trace

from explain import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory):
    return synthetic_trace().save(tmp_path_factory.mktemp("trace") / "trace.npz")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """main(argv) -> (exit code, stdout, stderr); argparse's own exits count too."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [[], ["demo"], ["train"], ["export"], ["report"]])
def test_help_everywhere(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and out.startswith("usage: explain")


def test_python_dash_m_runs_the_command():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "explain.cli", "export", "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 0 and "--what WHAT" in result.stdout
    assert "bertviz-head" in result.stdout


def test_export_writes_the_file(capsys, trace_file, tmp_path):
    out = tmp_path / "h.json"
    code, stdout, _ = run(
        capsys, "export", trace_file, "--layer", "1", "--head", "0", "--step", "8", "--out", out
    )
    assert code == 0 and f"wrote {out}" in stdout
    data = json.loads(out.read_text())
    assert data["layers"] == [1] and data["heads"] == [0] and data["steps"] == [8]


def test_export_takes_the_directory_of_a_trace(capsys, trace_file, tmp_path):
    code, _, _ = run(
        capsys,
        "export",
        trace_file.parent,
        "--what",
        "loss",
        "--format",
        "csv",
        "--out",
        tmp_path / "loss.txt",
    )
    assert code == 0 and (tmp_path / "loss.txt").read_text().startswith("step,")


def test_report_command(capsys, trace_file, tmp_path):
    code, stdout, _ = run(capsys, "report", trace_file, "--out", tmp_path / "r.html")
    assert code == 0 and "open file://" in stdout
    assert 'id="attention-self"' in (tmp_path / "r.html").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--what", "weights"], "invalid choice: 'weights' (choose from 'attention', "),
        (["--format", "jpg"], "invalid choice: 'jpg' (choose from 'png', 'svg'"),
        (["--layer", "7"], "layer 7 is not in this trace (part 'self'); available: 0, 1"),
        (["--head", "2"], "head 2 is not in this trace (2 heads per layer); available: 0, 1"),
        (["--head", "x"], "expected an integer >= 0; got 'x'"),
        (["--step", "5"], "step 5 has no snapshot in this trace; nearest: 4, 8"),
        (["--part", "cross"], "part 'cross' is not in this trace; available: self"),
        (["--what", "loss", "--layer", "0"], "layer cannot be used with what='loss'"),
        (["--format", "gif", "--step", "4"], "an animation shows every snapshot"),
        (["--format", "bertviz-model", "--head", "1"], "drop --head"),
    ],
)
def test_export_mistakes_exit_2_with_what_is_available(capsys, trace_file, tmp_path, argv, message):
    code, stdout, stderr = run(capsys, "export", trace_file, *argv, "--out", tmp_path / "x.png")
    assert code == 2
    assert message in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []


def test_unknown_suffix(capsys, trace_file, tmp_path):
    code, _, stderr = run(capsys, "export", trace_file, "--out", tmp_path / "x.jpg")
    assert code == 2 and "cannot tell the format from 'x.jpg'" in stderr and ".png" in stderr


def test_missing_and_corrupted_traces(capsys, tmp_path):
    code, _, stderr = run(capsys, "export", tmp_path / "none.npz", "--out", tmp_path / "x.png")
    assert code == 2 and "none.npz: no trace file" in stderr
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, stderr = run(capsys, "report", broken, "--out", tmp_path / "r.html")
    assert code == 2 and "corrupted or truncated" in stderr and "Traceback" not in stderr
    code, _, stderr = run(capsys, "report", tmp_path, "--out", tmp_path / "r.html")
    assert code == 2 and "without a trace.npz" in stderr


def test_unwritable_output(capsys, trace_file, tmp_path):
    (tmp_path / "file").write_text("x")
    code, _, stderr = run(capsys, "export", trace_file, "--out", tmp_path / "file" / "a.png")
    assert code == 2 and "is a file, not a directory" in stderr


def test_unknown_task_lists_the_tasks(capsys):
    code, _, stderr = run(capsys, "train", "--task", "chess")
    assert code == 2
    # every built-in task is listed (other tests and doctests may have registered more)
    assert "invalid choice: 'chess' (choose from 'copy', " in stderr
    for name in ("induction", "reverse", "sort", "text", "translate"):
        assert f"'{name}'" in stderr, name
    code, _, stderr = run(capsys, "demo", "--task", "chess")
    assert code == 2 and "'translate'" in stderr


def test_a_bad_model_shape_is_a_user_error(capsys, tmp_path):
    code, _, stderr = run(
        capsys, "train", "--task", "copy", "--heads", "3", "--steps", "1", "--out", tmp_path,
        "--quiet",
    )  # fmt: skip
    assert code == 2 and "must be divisible by n_heads" in stderr and "Traceback" not in stderr


def test_the_cli_module_does_not_import_torch_for_export(trace_file, tmp_path):
    script = (
        "import sys; sys.modules['torch'] = None\n"
        "from explain.cli import main\n"
        f"raise SystemExit(main(['export', {str(trace_file)!r}, '--out', "
        f"{str(tmp_path / 'a.svg')!r}]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.svg").exists()


def test_bertviz_formats(capsys, trace_file, tmp_path):
    try:
        from explain.adapters import write_bertviz_html  # noqa: F401
    except ImportError:
        pytest.skip("explain.adapters.write_bertviz_html is not there yet (another module)")
    for view in ("head", "model"):
        out = tmp_path / f"{view}.html"
        code, stdout, stderr = run(
            capsys, "export", trace_file, "--format", f"bertviz-{view}", "--step", "8", "--out", out
        )
        assert code == 0, stderr
        assert out.exists() and "<script>alert(1)" not in out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_demo_writes_everything_it_lists(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "explain.cli",
            "demo",
            "--out",
            str(out),
            "--steps",
            "30",
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(cli.DEMO_FILES)
    for name in cli.DEMO_FILES:
        assert name in result.stdout
    assert "open file://" in result.stdout
    from explain import load_trace

    trace = load_trace(out / "trace.npz")
    assert int(trace.steps[-1]) == 30 and trace.meta["status"] == "complete"


@pytest.mark.slow
def test_train_then_export(capsys, tmp_path):
    code, stdout, stderr = run(
        capsys, "train", "--task", "copy", "--steps", "12", "--seed", "3", "--layers", "1",
        "--heads", "2", "--positional", "learned", "--out", tmp_path / "run", "--quiet",
    )  # fmt: skip
    assert code == 0, stderr
    assert {"trace.npz", "trace.json", "model.safetensors", "report.html"} <= {
        p.name for p in (tmp_path / "run").iterdir()
    }
    meta = json.loads((tmp_path / "run" / "trace.json").read_text())
    assert meta["model_config"]["n_layers"] == 1 and meta["model_config"]["n_heads"] == 2
    assert meta["model_config"]["positional"] == "learned" and meta["train_config"]["seed"] == 3
    code, _, stderr = run(
        capsys, "export", tmp_path / "run", "--what", "positional", "--out", tmp_path / "pos.gif",
        "--max-frames", "3",
    )  # fmt: skip
    assert code == 0, stderr


@pytest.mark.slow
def test_train_induction_uses_the_recommended_training_and_forms_the_circuit(capsys, tmp_path):
    from explain import analysis, load_trace

    out = tmp_path / "induction"
    code, _, stderr = run(
        capsys, "train", "--task", "induction", "--seed", "7", "--out", out, "--quiet",
        "--no-report",
    )  # fmt: skip
    assert code == 0, stderr
    config = json.loads((out / "trace.json").read_text())["train_config"]
    assert (config["steps"], config["batch_size"], config["lr"]) == (500, 128, 0.01), config
    scores = analysis.head_scores(load_trace(out / "trace.npz"))  # 400 x 64 at 0.003: 0.22
    assert scores["induction"][-1][1].max() >= 0.5, scores["induction"][-1]  # measured 0.82


def test_train_options_given_win_over_the_recommended_ones(capsys, tmp_path):
    out = tmp_path / "short"
    code, _, stderr = run(
        capsys, "train", "--task", "induction", "--steps", "4", "--lr", "0.005", "--out", out,
        "--quiet", "--no-report",
    )  # fmt: skip
    assert code == 0, stderr
    config = json.loads((out / "trace.json").read_text())["train_config"]
    assert (config["steps"], config["batch_size"], config["lr"]) == (4, 128, 0.005), config


@pytest.fixture(scope="module")
def saved_copy_run(tmp_path_factory):
    """A short copy run saved as `explain train` saves it (no report, no lab record)."""
    import explain

    directory = tmp_path_factory.mktemp("copy")
    explain.train("copy", train_config=explain.TrainConfig(steps=6)).save(directory)
    return directory


@pytest.mark.parametrize("command", [["distill"]])
def test_help_for_distill(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and "--teacher DIR" in out and "--temperature" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--task", "reverse", "--freeze", "blocks.9"], "'blocks.9' matches no parameter"),
        (["train", "--task", "induction"], "lacks task 'induction'"),
        (
            ["train", "--task", "reverse", "--heads", "2"],
            "--init brings its own model; drop --heads",
        ),
        (["distill", "--temperature", "0"], "expected a number > 0; got 0.0"),
        (["distill", "--alpha", "2"], "expected a number in [0, 1]; got 2.0"),
        (["distill", "--task", "induction"], "lacks task 'induction'"),
    ],
)
def test_fine_tune_and_distill_mistakes_exit_2(capsys, saved_copy_run, tmp_path, argv, message):
    flag = "--init" if argv[0] == "train" else "--teacher"
    out = tmp_path / "out"
    code, _, stderr = run(capsys, *argv, flag, saved_copy_run, "--out", out, "--quiet")
    assert code == 2 and message in stderr and "Traceback" not in stderr
    assert not out.exists()  # nothing written


def test_a_missing_teacher_exits_2(capsys, tmp_path):
    code, _, stderr = run(capsys, "distill", "--teacher", tmp_path / "none", "--out", tmp_path)
    assert code == 2 and "no model.safetensors" in stderr


@pytest.mark.slow
def test_fine_tune_then_distill(capsys, saved_copy_run, tmp_path):
    code, stdout, stderr = run(
        capsys, "train", "--task", "reverse", "--init", saved_copy_run, "--freeze", "embed",
        "--steps", "4", "--out", tmp_path / "ft", "--quiet", "--no-report",
    )  # fmt: skip
    assert code == 0, stderr
    assert "fine-tuned 'reverse' for 4 steps" in stdout
    meta = json.loads((tmp_path / "ft" / "trace.json").read_text())
    assert [p["first_step"] for p in meta["phases"]] == [0, 6]
    assert meta["frozen"] == ["embed.W_E.weight"]
    code, stdout, stderr = run(
        capsys, "distill", "--teacher", tmp_path / "ft", "--d-model", "32", "--heads", "2",
        "--steps", "3", "--out", tmp_path / "student", "--quiet", "--no-report",
    )  # fmt: skip
    assert code == 0, stderr
    assert "distilled 'reverse' for 3 steps" in stdout and "agreement" in stdout
    assert "student L0H0 is" in stdout
    meta = json.loads((tmp_path / "student" / "trace.json").read_text())
    assert meta["model_config"]["d_model"] == 32 and meta["distillation"]["alpha"] == 0.5
    assert {"trace.npz", "model.safetensors"} <= {p.name for p in (tmp_path / "student").iterdir()}


@pytest.mark.slow
def test_distill_compare_puts_the_compression_table_into_the_report(
    capsys, saved_copy_run, tmp_path
):
    out = tmp_path / "student"
    code, stdout, stderr = run(
        capsys, "distill", "--teacher", saved_copy_run, "--d-model", "32", "--heads", "2",
        "--steps", "3", "--out", out, "--quiet", "--compare",
    )  # fmt: skip
    assert code == 0, stderr
    assert "| teacher | teacher |" in stdout and "· task only | task only |" in stdout
    table = json.loads((out / "trace.json").read_text())["compression"]
    assert [row["trained"] for row in table["rows"]] == ["teacher", "distilled", "task only"]
    assert table["steps"] == 3 and table["alpha"] == 0.5
    distilled, alone = table["rows"][1:]
    assert distilled["parameters"] == alone["parameters"] < table["rows"][0]["parameters"]
    page = (out / "report.html").read_text()
    assert '<section id="compression">' in page and "task only" in page


# -- Ctrl-C: exit 130, with what was recorded saved ----------------------------------------------
def _read_until(stream, pattern: str, timeout: float) -> re.Match | None:
    """Read a subprocess's pipe (tqdm writes '\\r', not lines) until `pattern` matches."""
    seen = b""
    deadline = time.monotonic() + timeout
    fd = stream.fileno()
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            seen += chunk
            match = re.search(pattern, seen.decode("utf-8", "replace"))
            if match:
                return match
    return None


def _interrupted_in_training(argv: list[str]) -> tuple[int, str, str]:
    """Run ``explain ARGV`` (100000 steps) and send a real SIGINT once a few steps are recorded;
    returns (exit code, stdout, stderr)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "explain.cli", *argv],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        # tqdm's bar on stderr: "copy:   0%|   | 3/100000 [...]": a few steps are recorded.
        progress = _read_until(process.stderr, r"\| *([3-9]|\d\d+)/100000", timeout=240)
        assert progress is not None, "no training progress was printed"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=240)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.mark.slow
def test_ctrl_c_during_train_saves_the_trace_and_exits_130(tmp_path):
    from explain.trace import load_trace
    from explain.weights import load_weights

    out = tmp_path / "run"
    argv = ["train", "--task", "copy", "--steps", "100000", "--out", str(out), "--no-report"]
    returncode, stdout, stderr = _interrupted_in_training(argv)
    assert returncode == 130, stderr
    stopped = re.search(r"interrupted at step (\d+): the trace and weights recorded so far", stderr)
    assert stopped is not None, stderr
    assert "Traceback" not in stderr and "(interrupted)" in stdout
    trace = load_trace(out / "trace.npz")
    step = int(stopped.group(1))
    assert trace.meta["status"] == "interrupted" and step >= 3
    assert int(trace.steps[-1]) == step and np.isfinite(trace.scalar("loss")[1][-1])
    assert load_weights(out / "model.safetensors").config.n_layers == trace.n_layers
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors", "trace.json", "trace.npz"]


@pytest.mark.parametrize("landing", ["waiting", "submitting"])
def test_ctrl_c_during_an_export_leaves_no_file_and_the_trace_loads(trace_file, tmp_path, landing):
    """A real SIGINT arrives while the GIF writer (a thread) is half-way through its file.

    The main thread gets the KeyboardInterrupt while it waits for the writer or, as CI once
    saw, while it is still handing the writers out (the writer then finished and renamed).
    """
    target = tmp_path / "a.gif"
    script = f"""
import os, signal, time
import concurrent.futures
from explain import cli
from explain._render import animate as _animate

def interrupted(file, frames, fps=8):
    file.write(b"GIF89a half a file")
    os.kill(os.getpid(), signal.SIGINT)  # the main thread's KeyboardInterrupt
    time.sleep(2)  # the writer goes on meanwhile

_animate.write_gif = interrupted
if {landing!r} == "submitting":
    submit = concurrent.futures.ThreadPoolExecutor.submit

    def slow_submit(self, *args, **kwargs):
        future = submit(self, *args, **kwargs)
        time.sleep(1)  # the signal lands here, before the main thread waits
        return future

    concurrent.futures.ThreadPoolExecutor.submit = slow_submit
raise SystemExit(cli.main(["export", {str(trace_file)!r}, "--out", {str(target)!r}]))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 130, result.stderr
    assert "interrupted; files written so far are complete" in result.stderr
    assert list(tmp_path.iterdir()) == []  # neither a.gif nor a temporary file
    from explain.trace import load_trace

    assert len(load_trace(trace_file).snapshot_steps) == 5


@pytest.mark.slow
def test_ctrl_c_during_demo_training_writes_every_file_and_exits_130(tmp_path):
    from explain.trace import load_trace

    out = tmp_path / "demo"
    argv = ["demo", "--steps", "100000", "--out", str(out)]
    returncode, stdout, stderr = _interrupted_in_training(argv)
    assert returncode == 130, stderr
    assert "(interrupted)" in stdout and "Traceback" not in stderr
    trace = load_trace(out / "trace.npz")
    assert trace.meta["status"] == "interrupted" and int(trace.steps[-1]) < 100000
    written = {p.name for p in out.iterdir()}
    assert {"report.html", "attention.png", "attention.gif", "trace.npz"} <= written, written
