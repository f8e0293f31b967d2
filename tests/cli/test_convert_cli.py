"""The conversion commands as a user runs them: one-line errors, exit codes, interrupted runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from reap_omni.cli import build_parser, run

COMMANDS = ("csv", "json", "folder", "merge", "split", "validate")


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reap_omni", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_all_commands_are_registered() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert set(COMMANDS) <= set(sub.choices)


@pytest.mark.parametrize(
    "args,message",
    [
        (["csv", "{d}/missing.csv", "{d}/o.jsonl"], "missing.csv: file not found"),
        (["json", "{d}/in.json", "{d}/in.json"], "is the same file as input"),
        (["merge", "{d}/in.json", "-o", "{d}/o.jsonl"], "in.json:1: expected a JSON object, got array"),
        (["csv", "{d}/in.csv", "{d}/o.jsonl", "--delimiter", ";;"], "--delimiter must be one character"),
    ],
)
def test_errors_are_one_line_without_traceback(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "in.json").write_text('[{"text": "a"}]')
    (tmp_path / "in.csv").write_text("text\na\n")
    before = (tmp_path / "in.json").read_bytes()
    proc = cli(*[a.format(d=tmp_path) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (tmp_path / "in.json").read_bytes() == before
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("exc, code, line", [
    (OSError(16, "Device or resource busy", "/mnt/out", None, "/mnt/.out.old-1"), 2,
     "reap-omni: error: Device or resource busy: /mnt/out -> /mnt/.out.old-1"),
    (FileNotFoundError(2, "No such file or directory", "/proc/1/.x.tmp"), 2,
     "reap-omni: error: No such file or directory: /proc/1/.x.tmp"),
    (OSError(28, "No space left on device"), 2, "reap-omni: error: cannot write output: disk full"),
    (BrokenPipeError(32, "Broken pipe"), 141, None),
])
def test_an_os_error_no_command_wrapped_is_one_line(monkeypatch, capsys, exc, code, line) -> None:
    from reap_omni.cli import convert_cmds

    def fail(_args):
        raise exc

    monkeypatch.setattr(convert_cmds, "_cmd_csv", fail)  # registered anew by each run()
    assert run(["csv", "a.csv", "b.jsonl"]) == code  # was: a traceback (a broken pipe too: OSError came first)
    err = capsys.readouterr().err.strip()
    assert err == (line or ""), err


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"id": "a", "modality": "text", "text": "x"}\n')
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "modality": "audio"}\n')
    assert cli("validate", str(good)).returncode == 0
    proc = cli("validate", str(good), str(bad))
    assert proc.returncode == 1 and f"{bad}:1: modality 'audio' needs an 'audio' path" in proc.stdout
    assert proc.stderr.strip() == "reap-omni: error: 1 error(s) found"


def _start_blocked_conversion(tmp_path: Path) -> tuple[subprocess.Popen, Path, threading.Thread]:
    """Start ``csv`` on a FIFO, feed it rows and keep the pipe open so the run is stuck midway."""
    fifo = tmp_path / "in.csv"
    os.mkfifo(fifo)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "out.jsonl").write_text("previous output\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "reap_omni", "csv", str(fifo), str(out_dir / "out.jsonl")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    release = threading.Event()

    def feed() -> None:
        f = open(fifo, "w")  # noqa: SIM115 - closed below, where a stopped reader's broken pipe is expected
        try:
            f.write("text\n" + "".join(f"row {i}\n" for i in range(20000)))
            f.flush()
            release.wait(60)
            f.close()
        except BrokenPipeError:  # the signal stopped the reader before it read everything
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    writer.release = release  # type: ignore[attr-defined]
    deadline = time.monotonic() + 60
    while not any(".tmp-" in p.name for p in out_dir.iterdir()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the conversion never started writing"
        time.sleep(0.02)
    time.sleep(0.3)  # let it consume the rows already fed; it then blocks on the open pipe
    return proc, out_dir, writer


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_sigint_midway_leaves_no_partial_output(tmp_path: Path) -> None:
    proc, out_dir, writer = _start_blocked_conversion(tmp_path)
    proc.send_signal(signal.SIGINT)
    # End the input at once: whether the interrupt stopped the read, or CPython swallowed it (raised inside a
    # finalizer) and the run reads to the end, it must exit 130 without committing; nothing waits on a timer
    writer.release.set()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]
    assert (out_dir / "out.jsonl").read_text() == "previous output\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_end_a_run_like_ctrl_c(tmp_path: Path, sig: str) -> None:
    """A scheduler's time limit, ``docker stop`` or a closed terminal: the same clean-up, exit 128 + signal."""
    proc, out_dir, writer = _start_blocked_conversion(tmp_path)
    proc.send_signal(getattr(signal, sig))
    writer.release.set()
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + getattr(signal, sig)
    assert "interrupted" in err and "Traceback" not in err
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]
    assert (out_dir / "out.jsonl").read_text() == "previous output\n"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_sigkill_leaves_a_temp_that_the_next_run_removes(tmp_path: Path) -> None:
    proc, out_dir, writer = _start_blocked_conversion(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    writer.release.set()
    temps = [p.name for p in out_dir.iterdir() if ".tmp-" in p.name]
    assert len(temps) == 1 and temps[0].startswith(".out.jsonl.tmp-")
    assert (out_dir / "out.jsonl").read_text() == "previous output\n"
    good = tmp_path / "good.csv"
    good.write_text("text\nhello\n")
    assert run(["csv", str(good), str(out_dir / "out.jsonl")]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["out.jsonl"]
    assert '"text":"hello"' in (out_dir / "out.jsonl").read_text()
