"""``reap-omni list`` and ``reap-omni catalog-docs``."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from reap_omni.cli import run

ROOT = Path(__file__).resolve().parents[2]


def test_list_json_seed_mixed(capsys):
    assert run(["list", "--modality", "mixed", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    names = [d["name"] for d in data]
    assert names == ["voxceleb", "lrs2", "lrs3", "how2", "audioset", "vggsound", "meld", "howto100m"]
    assert all(d["modality"] == "mixed" and d["route"] and d["sources"] for d in data)


def test_list_scopes(capsys):
    run(["list", "--json", "--extended"])
    ext = json.loads(capsys.readouterr().out)
    assert ext and all(d.get("extended") for d in ext)
    run(["list", "--json", "--all"])
    everything = json.loads(capsys.readouterr().out)
    run(["list", "--json"])
    seed = json.loads(capsys.readouterr().out)
    assert len(everything) == len(seed) + len(ext)
    run(["list", "--json", "--recommended"])
    assert all(d.get("recommended") for d in json.loads(capsys.readouterr().out))


def test_list_table(capsys):
    assert run(["list", "--modality", "video"]) == 0
    out = capsys.readouterr().out
    header, stratum = out.splitlines()[:2]
    assert header.split() == ["name", "dataset", "scale", "task", "access", "split", "used", "sources", "in", "order"]
    assert stratum == "S2 video-only:"
    assert "msrvtt *" in out and "zip range read" in out
    assert "  test (eval split)  " in out and "youcook2" in out  # the split used, and whether a benchmark reads it


def test_catalog_docs_check_and_write(tmp_path, capsys):
    for name in ("README.md", "README_zh.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    assert run(["catalog-docs", "--check", "--root", str(tmp_path)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert run(["catalog-docs", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "DATASETS_CATALOG.md").read_text(encoding="utf-8") == (ROOT / "DATASETS_CATALOG.md").read_text(
        encoding="utf-8")
    assert run(["catalog-docs", "--check", "--root", str(tmp_path)]) == 0


def test_extended_shim_lists_extended_set():
    out = subprocess.run([sys.executable, str(ROOT / "extended_datasets.py"), "--list", "--json"],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    names = {d["name"] for d in json.loads(out)}
    assert {"fleurs", "tedlium", "valor32k"} <= names and "librispeech" not in names


def test_extended_shim_download_arguments():
    sys.path.insert(0, str(ROOT))
    try:
        import extended_datasets
    finally:
        sys.path.pop(0)
    argv = extended_datasets.download_argv(["--modality", "video", "--output", "x"])
    assert argv[:3] == ["download", "--extended", "--dataset"]
    assert "charades" in argv and "kinetics400" not in argv and "fleurs" not in argv
    assert extended_datasets.download_argv(["-d", "fleurs"]) == ["download", "--extended", "-d", "fleurs"]
