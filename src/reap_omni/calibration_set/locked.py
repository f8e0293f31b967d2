"""``download --from-lock``: turn a lock file back into an exact selection of units and candidates.

Every locked row names its dataset, the source (by source id), the revision it was read at, the unit and
the candidate key. Rebuilding pins each source to that revision, reads only the locked units, and takes
only the locked candidates, so the rows (ids, text, media) are the ones the lock describes. Media are
normalised with the lock's media options; ``media_differences`` then compares sha256 digests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from reap_omni.calibration_set.plan import PlanItem
from reap_omni.calibration_set.sampler import UnitTask
from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.lock import LockFile, LockRow
from reap_omni.sources.base import Unit


@dataclass
class LockedSource:
    """One source of one dataset as locked: the spec pinned to its revision and the wanted keys per unit."""

    spec: SourceSpec
    units: dict[str, set[str]] = field(default_factory=dict)  # prefixed unit key -> prefixed candidate keys

    def tasks(self, available: Sequence[Unit], prefix: str) -> tuple[list[UnitTask], list[str]]:
        """Tasks for the locked units the source still lists, and the locked unit keys it no longer has."""
        by_key = {prefix + u.key: u for u in available}
        tasks = [UnitTask(by_key[k], len(keys)) for k, keys in sorted(self.units.items()) if k in by_key]
        missing = sorted(k[len(prefix):] for k in self.units if k not in by_key)
        return tasks, missing


def selection_from_lock(
    lock: LockFile, get_dataset: Callable[[str], DatasetSpec], source_id: Callable[[SourceSpec], str]
) -> tuple[list[PlanItem], dict[str, dict[str, LockedSource]], dict[str, str]]:
    """Plan items (one per locked dataset, target = its locked rows), the selection, and per-dataset errors
    for datasets the current catalog cannot serve any more (unknown name, source removed)."""
    plan: list[PlanItem] = []
    selection: dict[str, dict[str, LockedSource]] = {}
    errors: dict[str, str] = {}
    for name, rows in lock.dataset_rows().items():
        try:
            dataset = get_dataset(name)
        except ReapOmniError as exc:
            errors[name] = str(exc)
            continue
        specs = {source_id(s): s for s in dataset.sources}
        chosen: dict[str, LockedSource] = {}
        for row in rows:
            sid = row.source_id or ""
            spec = specs.get(sid)
            if spec is None:
                errors[name] = (
                    f"the lock names source {sid or '(none)'} which the catalog entry no longer has "
                    f"(it has {', '.join(specs) or 'no sources'})"
                )
                break
            locked = chosen.get(sid)
            if locked is None:
                locked = chosen[sid] = LockedSource(_pinned(spec, row))
            locked.units.setdefault(row.unit or "", set()).add(row.key)
        else:
            selection[name] = chosen
            plan.append(PlanItem(dataset, len(rows)))
    return plan, selection, errors


def _pinned(spec: SourceSpec, row: LockRow) -> SourceSpec:
    revision = row.source.get("revision")
    return msgspec.structs.replace(spec, revision=revision) if revision else spec


def media_differences(lock: LockFile, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Ids of rebuilt rows whose media sha256 differs from the lock (e.g. another FFmpeg encoder build)."""
    locked = {r.id: r for r in lock.rows}
    out = []
    for row in rows:
        entry = locked.get(row.get("id", ""))
        hashes = (row.get("meta") or {}).get("sha256") or {}
        if entry is None:
            continue
        for name, media in entry.media.items():
            if media.sha256 and hashes.get(name) and hashes[name] != media.sha256:
                out.append(entry.id)
                break
    return out
