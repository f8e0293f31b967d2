"""Merge unified manifests into one, streaming.

Rows are schema-checked and copied verbatim (unknown keys survive) unless a relative media path has to
be made absolute or an id renamed. Ids must stay unique: a duplicate is an error naming both places, or
is skipped/renamed by policy, and counted either way. ``shuffle`` keeps only a compact index of
``(file, byte offset)`` per row (10 bytes) and reads the chosen rows back, so memory does not grow with
the size of the rows.
"""

from __future__ import annotations

import contextlib
import os
from array import array
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from reap_omni.convert.output import ConvertReport, prepare_output
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.manifest.ids import IdIndex
from reap_omni.manifest.jsonl import JsonlWriter, read_jsonl_entries
from reap_omni.manifest.paths import manifest_line
from reap_omni.manifest.record import Record, RowErrors, decode_record

DUPLICATE_POLICIES = ("error", "skip", "rename")


class _Rows:
    """Streams checked rows of all inputs and applies the duplicate-id policy."""

    def __init__(self, inputs: Sequence[str], on_duplicate: str, errors: RowErrors):
        self.inputs = inputs
        self.on_duplicate = on_duplicate
        self.errors = errors
        self.ids = IdIndex()
        self.duplicates = 0
        self.examples: list[str] = []

    def __iter__(self) -> Iterator[tuple[int, int, bytes, Record, str | None]]:
        """``(file_index, offset, line_bytes, record, new_id_or_None)`` for each row to keep."""
        for fi, path in enumerate(self.inputs):
            for lineno, offset, line in read_jsonl_entries(path, errors=self.errors):
                try:
                    rec = decode_record(line, path, lineno)
                except InputError as exc:
                    self.errors.add(exc)
                    continue
                first = self.ids.add(rec.id, fi, lineno)
                if first is None:
                    yield fi, offset, line, rec, None
                    continue
                where = f"first at {self.inputs[first[0]]}:{first[1]}"
                if self.on_duplicate == "error":
                    self.errors.add(InputError(f"duplicate id {rec.id!r} ({where}; see --on-duplicate)", path, lineno))
                    continue
                self.duplicates += 1
                if len(self.examples) < 5:
                    self.examples.append(f"{path}:{lineno}: {rec.id!r} ({where})")
                if self.on_duplicate == "skip":
                    continue
                n = 2
                while f"{rec.id}_{n}" in self.ids:
                    n += 1
                new_id = f"{rec.id}_{n}"
                self.ids.add(new_id, fi, lineno)
                yield fi, offset, line, rec, new_id

    def note(self) -> str:
        if not self.duplicates:
            return ""
        done = "skipped" if self.on_duplicate == "skip" else "renamed"
        return f"{done} {self.duplicates} row(s) with a duplicate id:\n  " + "\n  ".join(self.examples)


def _out_row(line: bytes, rec: Record, base_dir: str, keep_relative: bool, new_id: str | None) -> Any:
    row = manifest_line(line, rec, base_dir, keep_relative)
    if new_id is None:
        return row
    if isinstance(row, msgspec.Raw):
        row = msgspec.json.decode(line)
    row["id"] = new_id
    return row


def merge_manifests(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    max_samples: int | None = None,
    on_duplicate: str = "error",
    shuffle: bool = False,
    seed: int = 0,
    keep_relative: bool = False,
    skip_invalid: bool = False,
) -> ConvertReport:
    """Merge manifests into ``output``; see the module doc for the duplicate and shuffle rules."""
    inputs = [os.fspath(p) for p in inputs]
    if not inputs:
        raise ReapOmniError("merge needs at least one input manifest")
    if on_duplicate not in DUPLICATE_POLICIES:
        raise ReapOmniError(f"--on-duplicate must be one of {', '.join(DUPLICATE_POLICIES)}")
    if max_samples is not None and max_samples < 0:
        raise ReapOmniError("--max-samples must be zero or more")
    seen_inputs: dict[str, str] = {}
    for p in inputs:
        real = os.path.realpath(p)
        if real in seen_inputs:
            raise ReapOmniError(f"input {p} is given twice (also as {seen_inputs[real]})")
        seen_inputs[real] = p
    prepare_output(output, inputs)
    errors = RowErrors(skip_invalid)
    report = ConvertReport(output=os.fspath(output), errors=errors)
    rows = _Rows(inputs, on_duplicate, errors)
    bases = [os.path.abspath(os.path.dirname(p)) for p in inputs]
    with JsonlWriter(output) as w:
        if not shuffle:
            for fi, _off, line, rec, new_id in rows:
                if max_samples is not None and w.count >= max_samples:
                    break
                w.write(_out_row(line, rec, bases[fi], keep_relative, new_id))
        else:
            _write_shuffled(w, rows, inputs, bases, keep_relative, max_samples, seed)
        report.written = w.count
    if rows.note():
        report.notes.append(rows.note())
    return report


def _write_shuffled(
    w: JsonlWriter, rows: _Rows, inputs: list[str], bases: list[str], keep_relative: bool,
    max_samples: int | None, seed: int,
) -> None:
    import numpy as np  # only a shuffle needs it

    files = array("H")
    offsets = array("q")
    renamed: dict[int, str] = {}
    for fi, off, _line, _rec, new_id in rows:
        if new_id is not None:
            renamed[len(offsets)] = new_id
        files.append(fi)
        offsets.append(off)
    order = np.random.default_rng(seed).permutation(len(offsets))
    if max_samples is not None:
        order = order[:max_samples]
    with contextlib.ExitStack() as stack:
        handles = [stack.enter_context(open(p, "rb")) for p in inputs]  # noqa: SIM115
        for i in order.tolist():
            fi = files[i]
            f = handles[fi]
            f.seek(offsets[i])
            line = f.readline().strip()
            try:
                rec = decode_record(line, inputs[fi], 0)
            except InputError:
                raise ReapOmniError(f"{inputs[fi]} changed while merging; rerun") from None
            w.write(_out_row(line, rec, bases[fi], keep_relative, renamed.get(i)))
