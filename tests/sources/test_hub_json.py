"""Kind ``hf_json``: the text (S0) sets with no parquet export, read from their JSON files."""

from __future__ import annotations

import json

import msgspec
import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.catalog.text import text_row
from reap_omni.fixtures.catalog_fixture import add_fixture
from reap_omni.sources.base import SourceMismatch, SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub_json import ROWS_PER_UNIT


def _open(spec, name="evol_instruct_code"):
    return open_source(spec, dataset=name, client=HttpClient(sleep=lambda s: None))


def test_evol_code_layout_parses_into_instruction_and_code_answer(hub_server):
    spec = get_dataset("evol_instruct_code").sources[0]
    fixture, spec = add_fixture(hub_server, spec, members=ROWS_PER_UNIT + 5)
    src = _open(spec)
    units = src.units()
    assert [u.rows for u in units] == [ROWS_PER_UNIT, 5]  # one file cut into units, like parquet row groups
    cands = list(src.read(units[1]))
    assert len(cands) == 5 and not cands[0].media
    question, answer = text_row(cands[0].fields)
    assert question.startswith("Write a Python function") and "\n    return a + b" in answer  # newlines kept
    assert cands[0].provenance.kind == "hf_json" and cands[0].provenance.row == ROWS_PER_UNIT
    assert src.bytes_read > 0


def test_a_renamed_column_names_the_real_ones(hub_server):
    hub_server.add_repo("org/code", {"train.jsonl": b"\n".join(
        json.dumps({"instructions": f"q{i}", "output": f"a{i}"}).encode() for i in range(3))})
    spec = msgspec.structs.replace(get_dataset("evol_instruct_code").sources[0], repo="org/code")
    with pytest.raises(SourceMismatch) as info:
        _open(spec).units()
    assert "columns.question" in str(info.value) and "instructions" in str(info.value)
    assert list(info.value.fixes) == ["evol_instruct_code:0:columns.question=instructions"]


def test_media_columns_and_missing_files_are_refused_in_one_line(hub_server):
    hub_server.add_repo("org/empty", {"README.md": b"no data\n"})
    base = get_dataset("evol_instruct_code").sources[0]
    with pytest.raises(SourceUnavailable, match="no file of org/empty@main matches"):
        _open(msgspec.structs.replace(base, repo="org/empty")).units()
    with pytest.raises(SourceUnavailable, match="carries text only, not audio"):
        _open(msgspec.structs.replace(base, columns={"audio": "path", "answer": "output"})).units()
