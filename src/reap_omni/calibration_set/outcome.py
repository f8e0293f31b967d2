"""What a build says about its rows and datasets: the ``source`` dict each row carries, the one-line messages of
datasets that fell short, the evaluation-split summary line, and ``stats.json`` merged across runs.

Kept apart from ``runner`` (the orchestration) so that each stays small; the runner re-exports
``eval_split_line``.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

from reap_omni.calibration_set.normalize import RowOrigin
from reap_omni.catalog.registry import source_split
from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.manifest.stats import BuildStats, DatasetStats
from reap_omni.sources.base import Candidate


def source_dict(dataset: DatasetSpec, cand: Candidate, origin: RowOrigin,
                spec: SourceSpec | None = None) -> dict[str, Any]:
    """A row's ``source``: dataset, provenance, keys, group, and the split read with its ``eval_split`` flag."""
    src: dict[str, Any] = {"dataset": dataset.name}
    if cand.fields.get("id") is not None:
        src["original_id"] = str(cand.fields["id"])
    src.update(cand.provenance.to_dict())
    src.update({"key": origin.key, "unit": origin.unit, "source_id": origin.source_id})
    if cand.group is not None:
        src["group"] = str(cand.group)
    if spec is not None:  # catalog facts, written either way so every built row can be classified (report)
        split = source_split(spec)
        if split and "split" not in src:
            src["split"] = str(split)
        src["eval_split"] = bool(spec.eval_split)
    return src


def eval_split_line(used: dict[str, tuple[str, str]]) -> str:
    """One summary line naming the benchmarks whose evaluation split gave rows ('' when none did)."""
    if not used:
        return ""
    parts = [f"{title} {split}" for title, split in (used[k] for k in sorted(used))]
    names = ", ".join(parts)
    return (f"reap-omni: rows of {names} come from evaluation splits (source.eval_split in the manifest): "
            f"do not report {' / '.join(parts)} results for a model pruned on this set")


def no_source_message(dataset: DatasetSpec, allow_eval_splits: bool = True) -> str:
    """Why a dataset has no source to try, and what the user can pass to get one."""
    evals = [s for s in dataset.sources if s.eval_split and s.kind != "local" and not s.opt_in]
    if evals and not allow_eval_splits:
        splits = ", ".join(dict.fromkeys(s.split or "test" for s in evals))
        return (f"only evaluation-split sources ({splits}), which quickstart leaves out; pass --allow-eval-splits "
                "to use them (their rows are flagged)")
    kinds = {s.kind for s in dataset.sources}
    hints = []
    if "local" in kinds:
        hints.append("pass --local-path DIR pointing at your licensed copy")
    if any(s.opt_in for s in dataset.sources):
        hints.append("or allow opt-in sources with --opt-in")
    if dataset.substitutes:
        hints.append(f"or use {' or '.join(dataset.substitutes)} instead")
    note = f" ({dataset.access})" if dataset.access else ""
    return f"no automatic source{note}: " + (" ".join(hints) if hints else "see `reap-omni list --all`")


def with_access(message: str, reason: str, dataset: DatasetSpec) -> str:
    """``message`` with the dataset's access text when the failure is about access."""
    if reason in ("gated", "needs_local_copy") and dataset.access and dataset.access not in message:
        return f"{message} ({dataset.access})"
    return message


def shortfall(failures: Counter) -> str:
    """The most frequent rejection reasons, for a dataset that fell short without an error message."""
    if not failures:
        return "the source has too few rows"
    top = ", ".join(f"{k}×{v}" for k, v in failures.most_common(3))
    return f"rejected or failed: {top}"


def merge_stats(path, current: BuildStats) -> BuildStats:
    """This run's stats plus earlier runs' entries for datasets it did not touch (stats.json covers the folder)."""
    import msgspec

    merged = BuildStats(options=current.options, demo=current.demo)
    with contextlib.suppress(OSError, msgspec.DecodeError, UnicodeDecodeError, TypeError, KeyError, AttributeError):
        old = msgspec.json.decode(Path(path).read_bytes())
        for name, d in (old.get("datasets") or {}).items():
            if name not in current.datasets:
                prev = DatasetStats(name, d["stratum"], d["requested"], rows=d["rows"], new_rows=0,
                                    seconds=float(d.get("hours", 0)) * 3600,
                                    failures=Counter(d.get("failures") or {}), source=d.get("source"),
                                    message=d.get("message"))  # fmt: skip
                merged.add(prev)
    for d in current.datasets.values():
        merged.add(d)
    return merged
