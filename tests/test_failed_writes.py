"""Writes that fail part way lose nothing: every file explain writes (explain/_files.py).

Each save runs in a child process under a file-size limit (``RLIMIT_FSIZE``) of half the size
of the file it would write, with SIGXFSZ ignored so that ``write`` fails with EFBIG as on a full
disk instead of killing the process. The file already at the path (from another trace or
model, so its bytes differ from the new one) must stay byte-identical, no temporary file may be
left, and the error must name the path. MP4s are written by an ffmpeg child, which inherits the
limit and is killed by SIGXFSZ (subprocess restores its default action); imageio-ffmpeg does
not report that, so export checks the MP4 before it replaces anything.
"""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

EXPORTS = ("png", "svg", "pdf", "gif", "mp4", "html", "json", "csv")
# case -> (file name, files the writer leaves next to it)
CASES = {
    "trace": ("trace.npz", ["trace.json", "trace.npz"]),
    "weights": ("model.safetensors", ["model.safetensors"]),
    **{fmt: (f"attention.{fmt}", [f"attention.{fmt}"]) for fmt in EXPORTS},
    "bertviz-head": ("head.html", ["head.html"]),
    "bertviz-model": ("model.html", ["model.html"]),
    "report": ("report.html", ["report.html"]),
}


def write(case: str, path: Path, seed: int) -> None:
    """Write ``case`` to ``path`` from a trace (or model) made with ``seed``."""
    if case == "weights":
        from explain.config import ModelConfig
        from explain.model import TinyTransformer
        from explain.weights import save_weights

        config = ModelConfig(vocab_size=11, d_model=16, n_layers=2, n_heads=2, seed=seed)
        save_weights(TinyTransformer(config), path)
        return
    from _export_traces import synthetic_trace

    trace = synthetic_trace(seed=seed)
    writers: dict[str, Callable[[], object]] = {
        "trace": lambda: trace.save(path),
        "bertviz-head": lambda: _bertviz(trace, path, "head"),
        "bertviz-model": lambda: _bertviz(trace, path, "model"),
        "report": lambda: _report(trace, path),
    }
    writers.get(case, lambda: _export(trace, path))()


def _export(trace: object, path: Path) -> None:
    from explain import export

    export.save(trace, path)


def _bertviz(trace: object, path: Path, view: str) -> None:
    from explain.adapters import write_bertviz_html

    write_bertviz_html(trace, path, view=view)


def _report(trace: object, path: Path) -> None:
    from explain import report

    report.save_report(trace, path)


def child(folder: Path) -> None:
    """In a child process: each case once in full (its size), then under half that limit."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() fails with EFBIG instead
    results = {}
    for case, (name, _) in CASES.items():
        scratch = folder / "scratch" / case / name
        write(case, scratch, seed=0)  # also imports everything before the limit
        limit = scratch.stat().st_size // 2
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
        try:
            write(case, folder / case / name, seed=0)
            results[case] = {"limit": limit, "error": None}
        except Exception as error:
            results[case] = {"limit": limit, "error": type(error).__name__, "text": str(error)}
            results[case]["errno"] = getattr(error, "errno", None)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (-1, -1))
    print(json.dumps(results))


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """(folder, the previous bytes of every file, what each limited save raised)."""
    folder = tmp_path_factory.mktemp("failed-writes")
    before = {}
    for case, (name, files) in CASES.items():
        write(case, folder / case / name, seed=1)
        before[case] = {f: (folder / case / f).read_bytes() for f in files}
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_failed_writes as t; "
    code += f"t.child(__import__('pathlib').Path({str(folder)!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=600, cwd=TESTS
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, before, json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_save_that_fails_part_way_leaves_the_previous_file(
    outcome: tuple[Path, dict, dict], case: str
) -> None:
    folder, before, results = outcome
    name, files = CASES[case]
    result = results[case]
    assert result["error"] is not None, f"{case}: a save over the limit raised nothing"
    # EFBIG from our own write; EIO from the MP4 check when ffmpeg died of SIGXFSZ
    expected = errno.EIO if case == "mp4" else errno.EFBIG
    assert (result["error"], result["errno"]) == ("OSError", expected), result
    assert "cannot write" in result["text"] and str(folder / case / name) in result["text"]
    assert sorted(p.name for p in (folder / case).iterdir()) == files
    for file, data in before[case].items():
        assert (folder / case / file).read_bytes() == data, f"{file} changed"


@pytest.mark.slow
def test_the_limit_was_below_a_whole_file_and_a_whole_file_is_different(
    outcome: tuple[Path, dict, dict],
) -> None:
    """The checks above can fail: the new files differ from the old ones, and fit no limit."""
    folder, before, results = outcome
    for case, (name, _) in CASES.items():
        new = (folder / "scratch" / case / name).read_bytes()
        assert new != before[case][name], case
        assert results[case]["limit"] < len(new), case


def test_an_mp4_that_ffmpeg_did_not_finish_is_refused(tmp_path: Path) -> None:
    """What ffmpeg leaves when it dies part way (cut short, or no moov box) is not an MP4."""
    from _export_traces import synthetic_trace

    from explain import export

    whole = export.save(synthetic_trace(), tmp_path / "whole.mp4", layer=0, head=0, max_frames=2)
    export._check_mp4(whole)  # a finished file passes
    data = whole.read_bytes()
    moov = data.index(b"moov") - 4  # faststart put the moov box before mdat
    size = int.from_bytes(data[moov : moov + 4], "big")
    broken = {"cut.mp4": data[: len(data) // 2], "no-moov.mp4": data[:moov] + data[moov + size :]}
    for name, content in broken.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(OSError, match="ffmpeg stopped before the MP4 was complete"):
            export._check_mp4(tmp_path / name)


def test_an_error_about_another_file_is_not_taken_for_a_failed_write(tmp_path: Path) -> None:
    """Only errors about writing name the output; a missing input keeps its own name."""
    from explain._files import atomic_path

    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(FileNotFoundError) as caught, atomic_path(target) as temp:
        temp.write_text("new")
        (tmp_path / "missing-input.txt").read_text()
    assert caught.value.filename == str(tmp_path / "missing-input.txt")
    assert "cannot write" not in str(caught.value)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    # the same errno about the temporary file is a failed write: it names the output
    with pytest.raises(OSError, match=r"cannot write .*out\.txt: No space left.* as it was"):
        with atomic_path(target) as temp:
            raise OSError(errno.ENOSPC, "No space left on device", str(temp))
    assert target.read_text() == "old"
