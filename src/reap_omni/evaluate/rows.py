"""The held-out rows ``eval`` scores: read from the manifests with their media digests, and checked against
the calibration set (``heldout``) so that no evaluation row was a calibration row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reap_omni.errors import ReapOmniError
from reap_omni.model.inputs import Sample, load_samples

if TYPE_CHECKING:
    from reap_omni.evaluate.options import EvalOptions


@dataclass
class EvalRow:
    """One held-out row: its inputs (``sample``) and what the metrics need to know about it."""

    stratum: str
    sample: Sample
    task: str | None
    lang: str | None
    eval_split: bool | None
    sha256: list[str]

    @property
    def asr(self) -> bool:
        return (self.task or "").lower() == "asr" and bool(self.sample.text)



def load_rows(path: str, stratum: str, limit: int) -> list[EvalRow]:
    """The first ``limit`` rows of a stratum's manifest, with their task, language, split and media digests (an S0
    row: the digest of its instruction and answer, as calibration records it)."""
    from reap_omni.manifest.lock import file_sha256
    from reap_omni.manifest.record import iter_records
    from reap_omni.report.summary import eval_split_of

    samples = load_samples(path, stratum, limit)
    records = []
    for _line, rec in iter_records(path):
        records.append(rec)
        if len(records) >= len(samples):
            break
    rows = []
    for s, rec in zip(samples, records, strict=True):
        media = [p for p in (s.audio, s.video) if p is not None]
        if rec.audio and s.audio is None:  # an S3 row's extracted track: also a calibration clip's file
            extra = Path(rec.audio)
            if not extra.is_absolute() and not extra.exists():
                extra = Path(path).parent / extra
            if extra.is_file():
                media.append(extra)
        digests = [file_sha256(p) for p in media]
        if stratum == "S0":
            from reap_omni.model.text_inputs import text_digest

            digests.append(text_digest(s))
        rows.append(EvalRow(stratum, s, rec.task, rec.lang, eval_split_of(rec.source)[0], digests))
    return rows


def check_held_out(rows: dict[str, list[EvalRow]], opts: EvalOptions, scores_meta: dict[str, Any] | None,
                   log: Callable[[str], None]) -> tuple[dict[str, list[EvalRow]], dict[str, Any]]:
    """Refuse (or with ``skip_calibration_rows`` drop) rows of the calibration set; flag evaluation-split rows."""
    from reap_omni.evaluate.heldout import calibration_set, find_overlap, overlap_message

    cal = calibration_set(opts.calibration_lock, scores_meta)
    info: dict[str, Any] = {"checked_against": cal.sources, "calibration_rows_skipped": []}
    if not cal.known:
        log("held-out check: the calibration set is unknown (the scores name no rows); pass --calibration-lock "
            "<calibration>/manifest.lock.json to check that no evaluation row was a calibration row")
    else:
        flat = [r for part in rows.values() for r in part]
        overlap = find_overlap(((r.sample.id, r.sample.where, r.sha256) for r in flat), cal)
        if overlap and not opts.skip_calibration_rows:
            raise ReapOmniError(overlap_message(overlap, len(flat), cal))
        if overlap:
            bad = {o.row_id for o in overlap}
            log(f"held-out check: skipping {len(bad)} calibration rows ({', '.join(sorted(bad)[:5])}"
                f"{', ...' if len(bad) > 5 else ''})")
            info["calibration_rows_skipped"] = sorted(bad)
            rows = {s: [r for r in part if r.sample.id not in bad] for s, part in rows.items()}
            empty = [s for s, part in rows.items() if not part]
            if empty:
                raise ReapOmniError(f"stratum {empty[0]} has no rows left after dropping calibration rows")
    info["eval_split_rows"] = {s: [r.sample.id for r in part if r.eval_split] for s, part in rows.items()}
    flagged = sum(len(v) for v in info["eval_split_rows"].values())
    if flagged:
        log(f"held-out check: {flagged} evaluation rows come from benchmark evaluation splits (flagged in eval.json)")
    return rows, info

