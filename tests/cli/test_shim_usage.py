"""The root shims' ``--help`` shows a usage line that works as typed: the program part of the line, run again,
is the same command (not ``reap_expert_pruning.py prune ...``, which the shim would read as ``prune prune``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=cwd or REPO)


def _typed_part(usage: str) -> list[str]:
    """The words of the usage line before its first option group: what the user types to run the command."""
    words = usage.removeprefix("usage: ").split()
    return words[: words.index("[-h]")]


@pytest.mark.parametrize("argv", [["reap_expert_pruning.py"], ["download_datasets.py"],
                                  ["download_datasets.py", "--list"], ["convert_utils.py"]])
def test_usage_line_works_as_typed(argv):
    first = _run(*argv, "--help")
    assert first.returncode == 0, first.stderr
    usage = first.stdout.splitlines()[0]
    assert _typed_part(usage) == argv, usage
    again = _run(*_typed_part(usage), "--help")
    assert again.returncode == 0 and again.stdout == first.stdout


def test_prune_shim_errors_name_the_shim_and_reach_the_command(tmp_path):
    usage = _run("reap_expert_pruning.py", "--help").stdout.splitlines()[0]
    assert usage.startswith("usage: reap_expert_pruning.py [-h] --model-path MODEL_PATH"), usage
    missing = _run("reap_expert_pruning.py")
    assert missing.returncode == 2
    assert missing.stderr.strip().splitlines()[-1].startswith("reap_expert_pruning.py: error: "), missing.stderr
    typed = _run(str(REPO / "reap_expert_pruning.py"), "--model-path", str(tmp_path / "none"), "--dry-run",
                 cwd=tmp_path)
    assert typed.returncode == 2
    assert typed.stderr.strip() == f"reap_expert_pruning.py: error: model folder not found: {tmp_path / 'none'}"
