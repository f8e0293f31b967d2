"""Split a unified manifest by modality into ``<out>/{audio,video,mixed,image,text}.jsonl``.

REAP-OMNI calibrates each stratum (S1 audio, S2 video, S3 mixed) from its own file. Rows are copied
verbatim (relative media paths made absolute, since the files move to another folder). Every output is
written atomically and only if it has rows; a file left from an earlier run for a modality that is now
empty is removed, so the folder always describes this input.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from reap_omni.convert.output import ConvertReport
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.fileio import check_not_input, remove_stale_temps
from reap_omni.manifest.jsonl import JsonlWriter, read_jsonl_entries
from reap_omni.manifest.paths import manifest_line
from reap_omni.manifest.record import MODALITIES, RowErrors, decode_record


def split_by_modality(
    input_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    keep_relative: bool = False,
    skip_invalid: bool = False,
) -> ConvertReport:
    """Write one manifest per modality present in ``input_path``; returns counts per modality."""
    input_path = os.fspath(input_path)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ReapOmniError(f"output {out} exists and is not a folder")
    targets = {m: out / f"{m}.jsonl" for m in MODALITIES}
    for target in targets.values():
        check_not_input(target, [input_path])
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReapOmniError(f"cannot create output folder {out}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ReapOmniError(f"output folder {out} is not writable")
    remove_stale_temps(out)
    base = os.path.abspath(os.path.dirname(input_path))
    errors = RowErrors(skip_invalid)
    report = ConvertReport(output=os.fspath(out), errors=errors)
    writers: dict[str, JsonlWriter] = {}
    with contextlib.ExitStack() as stack:
        for lineno, _off, line in read_jsonl_entries(input_path, errors=errors):
            try:
                rec = decode_record(line, input_path, lineno)
            except InputError as exc:
                errors.add(exc)
                continue
            w = writers.get(rec.modality)
            if w is None:
                w = writers[rec.modality] = stack.enter_context(JsonlWriter(targets[rec.modality]))
            w.write(manifest_line(line, rec, base, keep_relative))
    report.written = sum(w.count for w in writers.values())
    for m in MODALITIES:
        if m in writers:
            report.notes.append(f"  {m}: {writers[m].count} row(s) -> {targets[m]}")
        elif targets[m].is_file():
            targets[m].unlink()
            report.notes.append(f"  {m}: removed {targets[m]} left from an earlier run (no {m} rows now)")
    return report
