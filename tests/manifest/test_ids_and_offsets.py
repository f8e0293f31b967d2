"""Duplicate-id index and offset-carrying JSONL reader (used by merge --shuffle and validate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reap_omni.errors import InputError
from reap_omni.manifest.ids import IdIndex, id_key
from reap_omni.manifest.jsonl import read_jsonl_entries, read_jsonl_lines
from reap_omni.manifest.record import RowErrors


def test_id_index_reports_first_location() -> None:
    ids = IdIndex()
    assert ids.add("a", 0, 1) is None
    assert ids.add("b", 1, 7) is None
    assert ids.add("a", 2, 9) == (0, 1)
    assert "b" in ids and "c" not in ids and len(ids) == 2
    assert id_key("a") != id_key("a ") and id_key("\ud800") != id_key("a")  # lone surrogates do not crash


def test_id_index_grows_and_keeps_every_location() -> None:
    ids = IdIndex(capacity=16)
    n = 20000
    for i in range(n):
        assert ids.add(f"row-{i}", i % 3, i + 1) is None
    assert len(ids) == n
    assert all(ids.add(f"row-{i}", 9, 0) == (i % 3, i + 1) for i in range(0, n, 7))
    assert "row-19999" in ids and "row-20000" not in ids
    assert ids.nbytes() < 100 * n  # flat arrays at load <= 1/2, not a dict of strings (~200 bytes a row)


def test_offsets_point_at_each_line(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    data = b'\xef\xbb\xbf{"a": 1}\r\n\r\n  {"b": 2}\n{"c": 3}'
    p.write_bytes(data)
    entries = list(read_jsonl_entries(p))
    assert [(n, line) for n, _o, line in entries] == [(1, b'{"a": 1}'), (3, b'{"b": 2}'), (4, b'{"c": 3}')]
    for _n, offset, line in entries:
        assert data[offset:].lstrip().startswith(line)
    assert list(read_jsonl_lines(p)) == [(n, line) for n, _o, line in entries]


def test_long_line_raises_or_is_reported_and_skipped(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    p.write_bytes(b"x" * 5000 + b"\n" + b'{"ok": 1}\n')
    with pytest.raises(InputError, match=r"m\.jsonl:1: line is longer than"):
        list(read_jsonl_entries(p, limit=100))
    errors = RowErrors(skip_invalid=True)
    assert [(n, o) for n, o, _ in read_jsonl_entries(p, limit=100, errors=errors)] == [(2, 5001)]
    assert errors.count == 1
