"""Text (S0) rows through the build: ``download --modality text``, ``quickstart --text N`` (off by default),
resume, and the manifest rule that a text row carries its answer."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from reap_omni.calibration_set.demo import serve_fixtures
from reap_omni.catalog.registry import select
from reap_omni.cli import run
from reap_omni.errors import InputError
from reap_omni.manifest.record import iter_records


def _rows(path):
    return [r for _, r in iter_records(path)] if path.exists() else []


def test_download_modality_text_writes_answers_and_questions_and_resumes(hub_server, tmp_path, capsys):
    texts = select(None, "text")
    served = {d.name: d for d in serve_fixtures(hub_server, texts, {d.name: 5 for d in texts})}
    assert set(served) == {d.name for d in texts}  # every text layout has a fixture
    assert [d.sources for d in served.values()] == [d.sources for d in texts]  # Hub repos: the catalog's own specs
    out = tmp_path / "data"
    argv = ["download", "--modality", "text", "--samples", "4", "--output", str(out), "--quiet"]
    assert run(argv) == 0
    recs = _rows(out / "calibration" / "text.jsonl")
    assert len(recs) == 12 and {r.modality for r in recs} == {"text"}
    assert {r.source["dataset"] for r in recs} == set(served)
    assert all(r.text and r.meta["question"] and not r.media_paths() for r in recs)
    code = [r for r in recs if r.task == "code"]
    assert code and all("\n    return" in r.text for r in code)  # answers keep their lines
    chat = [r for r in recs if r.source["dataset"] == "ultrachat_200k"]
    assert chat and all(r.text.startswith("Answer") and "tides" in r.meta["question"] for r in chat)
    assert not (out / "calibration" / "audio.jsonl").exists()
    capsys.readouterr()
    assert run(argv[:-1]) == 0  # a rerun keeps the rows: text rows have no media to find missing
    assert "resuming: 12 row(s) already done" in capsys.readouterr().err
    assert _rows(out / "calibration" / "text.jsonl") == recs


def test_quickstart_demo_text_is_off_by_default_and_on_with_text_n(tmp_path, capsys):
    plain = tmp_path / "plain"
    assert run(["quickstart", "--demo", "--output", str(plain), "--samples", "3", "--quiet"]) == 0
    assert not (plain / "calibration" / "text.jsonl").exists()
    assert "--text-data" not in capsys.readouterr().out
    out = tmp_path / "with_text"
    assert run(["quickstart", "--demo", "--output", str(out), "--samples", "3", "--text", "6", "--quiet"]) == 0
    cal = out / "calibration"
    recs = _rows(cal / "text.jsonl")
    assert len(recs) == 6 and {r.source["dataset"] for r in recs} == {"ultrachat_200k", "gsm8k", "evol_instruct_code"}
    for stratum in ("audio", "video", "mixed"):  # the media mix is the same as without --text
        assert len(_rows(cal / f"{stratum}.jsonl")) == 3
    printed = capsys.readouterr().out
    assert f"--text-data {cal / 'text.jsonl'}" in printed
    lock = json.loads((cal / "manifest.lock.json").read_text())
    assert {"ultrachat_200k", "gsm8k", "evol_instruct_code"} <= set(lock["datasets"])


def test_a_text_row_without_its_answer_is_refused_in_one_line(tmp_path):
    path = tmp_path / "text.jsonl"
    path.write_text('{"id": "t1", "modality": "text", "text": "", "meta": {"question": "2+2?"}}\n')
    with pytest.raises(InputError) as info:
        list(iter_records(path))
    assert str(info.value).count("\n") == 0 and "needs the answer in 'text'" in str(info.value)


REPO = Path(__file__).resolve().parents[2]
CLOSED = "http://127.0.0.1:9"
README_LINES = ("python quickstart.py --demo --output ./demo_text --text 12",
                "python download_datasets.py --modality text --output ./data")


def _readme_command(start: str) -> list[str]:
    """The documented line ``start`` (README or its docs/ pages), present in English and in Chinese alike."""
    for lang, readme in (("en", "README.md"), ("zh", "README_zh.md")):
        pages = [REPO / readme, *sorted((REPO / "docs" / lang).glob("*.md"))]
        lines = {ln.split("#")[0].strip() for p in pages if p.is_file() for ln in p.read_text("utf-8").splitlines()}
        assert start in lines, (lang, start)
    return shlex.split(start)


def _shell(argv: list[str], cwd: Path, endpoint: str = CLOSED) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_ENDPOINT": endpoint, "HTTP_PROXY": CLOSED, "HTTPS_PROXY": CLOSED, "http_proxy": CLOSED,
           "https_proxy": CLOSED, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return subprocess.run([sys.executable, str(REPO / argv[1]), *argv[2:]], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_readme_text_commands_run_verbatim(hub_server, tmp_path):
    res = _shell(_readme_command(README_LINES[0]), tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(_rows(tmp_path / "demo_text" / "calibration" / "text.jsonl")) == 12 and "--text-data" in res.stdout
    texts = select(None, "text")
    served = serve_fixtures(hub_server, texts, {d.name: 100 for d in texts})
    assert [d.sources for d in served] == [d.sources for d in texts]  # no URL to rewrite: the real entries work
    res = _shell(_readme_command(README_LINES[1]), tmp_path, hub_server.endpoint)
    assert res.returncode == 0, res.stderr
    recs = _rows(tmp_path / "data" / "calibration" / "text.jsonl")
    assert len(recs) == 300 and {r.source["dataset"] for r in recs} == {d.name for d in texts}
