"""The plan of a build: which datasets, and how many rows each.

``download`` asks for the same number of rows from every dataset; ``quickstart`` asks for a number of rows
per *stratum* and splits it evenly over that stratum's recommended datasets, so no single corpus dominates
the calibration set. When a dataset fails, ``rebalance`` moves its share to the datasets of the same stratum
that delivered in full, keeping the stratum total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reap_omni.catalog.spec import DatasetSpec


@dataclass(frozen=True)
class PlanItem:
    """One dataset of the build and the number of manifest rows it must end with."""

    dataset: DatasetSpec
    target: int
    group: str | None = None  # balancing group (the stratum file) for quickstart; None = no balancing

    @property
    def name(self) -> str:
        return self.dataset.name

    @property
    def stratum(self) -> str:
        """Manifest file the rows go to: ``audio`` (S1), ``video`` (S2), ``mixed`` (S3) or ``text`` (S0)."""
        return self.dataset.modality


def per_dataset_plan(datasets: Iterable[DatasetSpec], samples: int) -> list[PlanItem]:
    """``samples`` rows from each dataset (``download --samples N``)."""
    return [PlanItem(d, samples) for d in _unique(datasets)]


def balanced_plan(datasets: Iterable[DatasetSpec], samples_per_stratum: int) -> list[PlanItem]:
    """``samples_per_stratum`` rows per stratum, split as evenly as possible over its datasets.

    The remainder goes to the first datasets in catalog order, so the split is reproducible. A dataset
    whose share would be zero (more datasets than rows) is left out rather than asked for nothing.
    """
    by_stratum: dict[str, list[DatasetSpec]] = {}
    for d in _unique(datasets):
        by_stratum.setdefault(d.modality, []).append(d)
    plan: list[PlanItem] = []
    for stratum, members in by_stratum.items():
        for d, share in zip(members, split_evenly(samples_per_stratum, len(members)), strict=True):
            if share > 0:
                plan.append(PlanItem(d, share, group=stratum))
    return plan


def quickstart_plan(datasets: Iterable[DatasetSpec], samples: int, text_samples: int = 0) -> list[PlanItem]:
    """``quickstart``'s plan: ``samples`` rows per media stratum and ``text_samples`` rows of text (S0), each
    balanced over its datasets; the text datasets are left out when ``text_samples`` is 0 (the default mix)."""
    chosen = _unique(datasets)
    media = balanced_plan([d for d in chosen if d.modality != "text"], samples)
    text = balanced_plan([d for d in chosen if d.modality == "text"], text_samples) if text_samples > 0 else []
    return media + text


def split_evenly(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` integers differing by at most one, larger ones first."""
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def rebalance(plan: Sequence[PlanItem], delivered: Mapping[str, int]) -> list[PlanItem]:
    """Changed targets that make up, within each balancing group, the rows failed datasets did not deliver.

    ``delivered`` maps dataset name to the rows it has now. A dataset that fell short (exhausted or failing)
    gives its missing share away: its target drops to what it delivered. Only datasets that met their target
    receive more. Returns the items whose target changed; none growing means nothing can be rebalanced.
    """
    changed: list[PlanItem] = []
    groups: dict[str, list[PlanItem]] = {}
    for item in plan:
        if item.group is not None:
            groups.setdefault(item.group, []).append(item)
    for members in groups.values():
        short = [it for it in members if delivered.get(it.name, 0) < it.target]
        healthy = [it for it in members if delivered.get(it.name, 0) >= it.target]
        deficit = sum(it.target - delivered.get(it.name, 0) for it in short)
        if deficit <= 0 or not healthy:
            continue
        changed.extend(PlanItem(it.dataset, delivered.get(it.name, 0), it.group) for it in short)
        for it, extra in zip(healthy, split_evenly(deficit, len(healthy)), strict=True):
            if extra > 0:
                changed.append(PlanItem(it.dataset, it.target + extra, it.group))
    return changed


def _unique(datasets: Iterable[DatasetSpec]) -> list[DatasetSpec]:
    seen: set[str] = set()
    out: list[DatasetSpec] = []
    for d in datasets:
        if d.name not in seen:
            seen.add(d.name)
            out.append(d)
    return out
