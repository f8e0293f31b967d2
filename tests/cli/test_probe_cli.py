"""``reap-omni probe``: the demo Hub passes end to end; rows, JSON, exit codes and the byte budget."""

from __future__ import annotations

import json

from reap_omni.catalog.registry import all_datasets, get_dataset
from reap_omni.cli import run
from reap_omni.sources.probe import PROBE_BUDGET

KEYS = {"dataset", "source", "kind", "ok", "problems", "fix", "bytes"}


def test_probe_all_against_the_demo_hub_passes(capsys):
    assert run(["probe", "--all", "--demo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(set(r) >= KEYS for r in rows)
    bad = [(r["dataset"], r["source"], r["problems"]) for r in rows if not r["ok"]]
    assert bad == []
    assert all(0 < r["bytes"] <= PROBE_BUDGET for r in rows)
    kinds = {r["kind"] for r in rows}
    assert {"hf_parquet", "hf_tar", "http_tar", "zip_range", "hf_files"} <= kinds
    names = {d.name for d in all_datasets()}
    assert {r["dataset"] for r in rows} <= names and len({r["dataset"] for r in rows}) > len(names) // 2
    for r in rows:  # the rows name the catalog's own sources
        assert get_dataset(r["dataset"]).sources[r["source"]].kind == r["kind"]


def test_probe_text_rows_and_summary(capsys):
    assert run(["probe", "esc50", "librispeech", "--demo"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "esc50" and "  ✓ #0 hf_parquet " in out
    assert "0 failing" in out and "at most 1.00 MB per source" in out and "no working source" not in out


def test_probe_exit_1_and_json_when_no_source_works(hub_server, capsys):
    spec = get_dataset("esc50")
    assert all(s.kind == "hf_parquet" for s in spec.sources)
    code = run(["probe", "esc50", "--json", "--source-option", "esc50:repo=org/gone"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 1
    assert [r["source"] for r in rows] == list(range(len(spec.sources)))
    assert all(not r["ok"] and "org/gone not found" in r["problems"][0] and r["fix"] is None for r in rows)


def test_probe_text_shows_the_fix(hub_server, capsys):
    from reap_omni.fixtures.repos import librispeech_rows, parquet_bytes

    cols = librispeech_rows(4)
    hub_server.add_repo("org/renamed", {"data/train-00000.parquet": parquet_bytes(
        {"sound": cols["audio"], "category": cols["text"]})})
    options = ["--source-option", "esc50:repo=org/renamed", "--source-option", "esc50:files=data/train-*.parquet",
               "--source-option", "esc50:columns.audio=audio", "--source-option", "esc50:columns.label=category"]
    for key in get_dataset("esc50").sources[0].columns:
        if key not in ("audio", "label"):
            options += ["--source-option", f"esc50:columns.{key}="]
    assert run(["probe", "esc50", *options]) == 1
    out = capsys.readouterr().out
    assert "✗ #0 hf_parquet org/renamed@main" in out
    assert "fix: --source-option esc50:0:columns.audio=sound" in out and "no working source: esc50" in out


def test_probe_names_and_all_are_exclusive(capsys):
    assert run(["probe", "esc50", "--all"]) == 2
    assert "not both" in capsys.readouterr().err
