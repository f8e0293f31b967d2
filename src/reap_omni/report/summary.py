"""The numbers of ``reap-omni report``, recomputed by streaming the manifests (``report.json``'s content).

Rows are read with the record reader (``iter_records``: a malformed row is one ``file:line`` error) and
summed per stratum (row modality: audio S1, video S2, mixed S3) and dataset (``source.dataset``): rows and
seconds (``math.fsum``, so the totals do not depend on the order rows are added), duration distributions
and histograms, distinct ``source.group`` values, ``lang``, ``source.split`` and evaluation-split rows,
media formats (``media``), and licence/access from the catalog.
"""

from __future__ import annotations

import math
import os
import statistics
from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reap_omni.catalog.registry import EVAL_SPLIT_NAMES, is_eval_split_name
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.record import Record, iter_records
from reap_omni.report.media import ProbeCache, RowFacts, row_facts

#: manifest file names of a calibration folder, in stratum order
MANIFEST_NAMES = ("audio.jsonl", "video.jsonl", "mixed.jsonl", "text.jsonl")
#: row modality -> stratum key; image and text rows (hand-assembled folders) keep their modality as key
STRATUM_OF = {"audio": "S1", "video": "S2", "mixed": "S3"}
STRATUM_LABELS = {"S1": "S1 audio", "S2": "S2 video", "S3": "S3 audio+video", "image": "image", "text": "S0 text"}
STRATUM_ORDER = ("S1", "S2", "S3", "image", "text")
#: what a row without a ``source.eval_split`` flag is judged by: the catalog's rule (one rule for both)
EVAL_SPLITS = EVAL_SPLIT_NAMES.pattern
UNKNOWN = "unknown"
HISTOGRAM_BINS = 20
REPORT_VERSION = 1
#: the PNGs a report writes: name -> what it shows
PLOTS = {
    "rows_hours": "rows and hours per stratum, stacked by dataset",
    "durations": "duration histogram per stratum, stacked by dataset",
}


# -- accumulation ------------------------------------------------------------------------------------------
def eval_split_of(source: dict[str, Any] | None) -> tuple[bool | None, str]:
    """``(is_evaluation_split, rule)`` of one row.

    Rule ``flag``: the row's ``source.eval_split`` boolean says it. Rule ``split``: no flag, but
    ``source.split`` names a split, judged by the catalog's ``is_eval_split_name`` (``test``, ``test.clean``,
    ``eval``; ``dev``/``validation`` are calibration splits where a dataset has no train split). Rule
    ``none``: neither, so it cannot be told.
    """
    src = source or {}
    flag = src.get("eval_split")
    if isinstance(flag, bool):
        return flag, "flag"
    split = src.get("split")
    if isinstance(split, str) and split.strip():
        return is_eval_split_name(split), "split"
    return None, "none"


def _dataset_name(rec: Record) -> str:
    name = (rec.source or {}).get("dataset")
    return name.strip() if isinstance(name, str) and name.strip() else UNKNOWN


@dataclass
class _DatasetAcc:
    rows: int = 0
    strata: Counter = field(default_factory=Counter)
    seconds: array = field(default_factory=lambda: array("d"))
    groups: set = field(default_factory=set)
    rows_with_group: int = 0
    languages: Counter = field(default_factory=Counter)
    splits: Counter = field(default_factory=Counter)
    eval_rows: int = 0
    rules: Counter = field(default_factory=Counter)


@dataclass
class _StratumAcc:
    rows: int = 0
    durations: dict[str, array] = field(default_factory=dict)  # dataset -> known durations, in row order
    duration_from: Counter = field(default_factory=Counter)
    facts: dict[str, Counter] = field(default_factory=dict)  # fact -> value label -> rows
    origins: dict[str, Counter] = field(default_factory=dict)  # fact -> manifest/probed/unknown -> rows
    formats: Counter = field(default_factory=Counter)
    problems: Counter = field(default_factory=Counter)
    problem_examples: list[str] = field(default_factory=list)


class _Collector:
    def __init__(self) -> None:
        self.datasets: dict[str, _DatasetAcc] = {}
        self.strata: dict[str, _StratumAcc] = {}
        self.languages: Counter = Counter()
        self.files: list[dict[str, Any]] = []

    def add(self, rec: Record, facts: RowFacts) -> None:
        stratum = STRATUM_OF.get(rec.modality, rec.modality)
        name = _dataset_name(rec)
        d = self.datasets.get(name) or self.datasets.setdefault(name, _DatasetAcc())
        s = self.strata.get(stratum) or self.strata.setdefault(stratum, _StratumAcc())
        d.rows += 1
        d.strata[stratum] += 1
        s.rows += 1
        src = rec.source or {}
        group = src.get("group")
        if group is not None and group != "":
            d.groups.add(str(group))
            d.rows_with_group += 1
        lang = rec.lang.strip() if isinstance(rec.lang, str) and rec.lang.strip() else UNKNOWN
        d.languages[lang] += 1
        self.languages[lang] += 1
        split = src.get("split")
        d.splits[split.strip() if isinstance(split, str) and split.strip() else UNKNOWN] += 1
        is_eval, rule = eval_split_of(src)
        d.rules[rule] += 1
        d.eval_rows += bool(is_eval)
        s.duration_from[facts.duration_from] += 1
        if facts.duration is not None:
            d.seconds.append(facts.duration)
            s.durations.setdefault(name, array("d")).append(facts.duration)
        for fact, value in facts.values.items():
            s.facts.setdefault(fact, Counter())[value] += 1
            s.origins.setdefault(fact, Counter())[facts.origin[fact]] += 1
        for fmt in facts.formats:
            s.formats[fmt] += 1
        for reason, path in facts.problems:
            s.problems[reason] += 1
            if len(s.problem_examples) < 5:
                s.problem_examples.append(f"{reason}: {path}")


# -- summary -----------------------------------------------------------------------------------------------
def _hours(seconds: float) -> float:
    return seconds / 3600.0


def _ordered(counter: Counter) -> dict[str, int]:
    """Most rows first, then by name; ``unknown`` last."""
    items = sorted(counter.items(), key=lambda kv: (kv[0] == UNKNOWN, -kv[1], kv[0]))
    return dict(items)


def histogram(values: list[float], bins: int = HISTOGRAM_BINS) -> list[float]:
    """Equal-width bin edges over ``[min, max]`` (one bin of width 1 s around a single value)."""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        return [lo - 0.5, hi + 0.5]
    import numpy as np

    return [float(e) for e in np.linspace(lo, hi, bins + 1)]


def _counts(values: array, edges: list[float]) -> list[int]:
    import numpy as np

    counts, _ = np.histogram(np.frombuffer(values, dtype=np.float64) if len(values) else [], bins=edges)
    return [int(c) for c in counts]


def _duration_summary(acc: _StratumAcc) -> dict[str, Any]:
    every = [v for arr in acc.durations.values() for v in arr]
    out: dict[str, Any] = {
        "known": len(every),
        "from_manifest": acc.duration_from.get("manifest", 0),
        "probed": acc.duration_from.get("probed", 0),
        "unknown": acc.duration_from.get("unknown", 0),
    }
    if not every:
        return out
    edges = histogram(every)
    out.update(
        min=min(every), max=max(every), mean=math.fsum(every) / len(every), median=statistics.median(every),
        histogram={"edges": edges, "counts": _counts(array("d", every), edges),
                   "by_dataset": {n: _counts(a, edges) for n, a in acc.durations.items()}},
    )  # fmt: skip
    return out


def catalog_facts(name: str) -> dict[str, Any]:
    """Licence and access of a dataset from its catalog entry; ``unknown`` when it is not a catalog name."""
    from reap_omni.catalog.docs import AVAILABILITY
    from reap_omni.catalog.registry import availability, get_dataset

    try:
        spec = get_dataset(name)
    except ReapOmniError:
        return {"catalog": None, "title": None, "licence": UNKNOWN, "access": UNKNOWN, "gated": None,
                "homepage": None}  # fmt: skip
    return {"catalog": spec.name, "title": spec.title, "licence": spec.licence,
            "access": AVAILABILITY[availability(spec)][0], "gated": spec.gated, "homepage": spec.homepage}  # fmt: skip


def _eval_rule(rules: Counter) -> str:
    """Which rule decided a dataset's evaluation-split count: ``flag``, ``split``, ``none`` or a mix."""
    used = [r for r in ("flag", "split", "none") if rules.get(r)]
    return "+".join(used) if used else "none"


def _summary(col: _Collector, target: Path, probes: ProbeCache) -> dict[str, Any]:
    from reap_omni import __version__

    strata: dict[str, Any] = {}
    for key in sorted(col.strata, key=lambda k: (STRATUM_ORDER.index(k) if k in STRATUM_ORDER else 99, k)):
        acc = col.strata[key]
        names = sorted((n for n, d in col.datasets.items() if d.strata.get(key)),
                       key=lambda n, key=key: (-col.datasets[n].strata[key], n))  # most rows first
        per = {}
        for n in names:
            secs = math.fsum(acc.durations.get(n, ()))
            per[n] = {"rows": col.datasets[n].strata[key], "seconds": secs, "hours": _hours(secs)}
        secs = math.fsum(v for a in acc.durations.values() for v in a)
        strata[key] = {
            "label": STRATUM_LABELS.get(key, key), "rows": acc.rows, "seconds": secs, "hours": _hours(secs),
            "datasets": per, "durations": _duration_summary(acc),
            "media": {
                "facts": {f: _ordered(c) for f, c in acc.facts.items()},
                "origin": {f: dict(sorted(c.items())) for f, c in acc.origins.items()},
                "formats": _ordered(acc.formats),
                "problems": dict(sorted(acc.problems.items())),
                "problem_examples": acc.problem_examples,
            },
        }  # fmt: skip
    datasets: dict[str, Any] = {}
    order = list(dict.fromkeys([n for s in strata.values() for n in s["datasets"]]))  # stratum order, then rows
    for name in order:
        d = col.datasets[name]
        secs = math.fsum(d.seconds)
        datasets[name] = {
            "rows": d.rows, "strata": dict(d.strata), "seconds": secs, "hours": _hours(secs),
            "rows_with_duration": len(d.seconds),
            "groups": len(d.groups), "rows_with_group": d.rows_with_group,
            "languages": _ordered(d.languages),
            "splits": _ordered(d.splits),
            "eval_split": {"rows": d.eval_rows, "rule": _eval_rule(d.rules), "by_rule": dict(sorted(d.rules.items()))},
            **catalog_facts(name),
        }  # fmt: skip
    rows = sum(s["rows"] for s in strata.values())
    secs = math.fsum(s["seconds"] for s in strata.values())
    decided = sum(d["eval_split"]["by_rule"].get(r, 0) for d in datasets.values() for r in ("flag", "split"))
    return {
        "version": REPORT_VERSION,
        "reap_omni": __version__,
        "target": str(target.resolve()),
        "manifests": col.files,
        "totals": {"rows": rows, "seconds": secs, "hours": _hours(secs), "datasets": len(datasets)},
        "strata": strata,
        "datasets": datasets,
        "languages": _ordered(col.languages),
        "eval_split": {
            "rows": sum(d["eval_split"]["rows"] for d in datasets.values()),
            "decided_rows": decided,
            "undetermined_rows": rows - decided,
            "split_rule": EVAL_SPLITS,
        },
        "probe": {"enabled": probes.enabled, "probed_files": probes.probed, "cached_files": probes.reused},
    }


def _chunks(records: Iterator[Record], size: int = 256) -> Iterator[list[Record]]:
    """Rows in lists of ``size``: one thread task each, so rows that need no probing cost no hand-off."""
    chunk: list[Record] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _chunk_facts(recs: list[Record], base: str, probes: ProbeCache, jobs: int) -> list[RowFacts]:
    """Facts of a block of rows. Rows whose facts the manifest (or the probe cache) gives are done at once;
    the files the others need are probed on ``jobs`` threads, then those rows are looked at again."""
    from reap_omni.parallel import ordered_map

    wanted: dict[str, None] = {}  # files to probe, in first-use order
    waits = [False]  # the row being looked at needs one of them

    def lookup(path: str) -> dict[str, Any]:
        got, _stamp = probes.known(path)
        if got is None:
            wanted[path] = None
            waits[0] = True
            return {"error": "pending"}
        return got

    out, pending = [], []
    for i, rec in enumerate(recs):
        waits[0] = False
        out.append(row_facts(rec, base, lookup))
        if waits[0]:
            pending.append(i)
    if wanted:
        for _path, result in ordered_map(probes.facts, list(wanted), jobs):
            if isinstance(result, Exception):
                raise result
        for i in pending:
            out[i] = row_facts(recs[i], base, probes.facts)
    return out


def build_report(
    manifests: Sequence[str | os.PathLike[str]],
    target: str | os.PathLike[str] | None = None,
    probes: ProbeCache | None = None,
    jobs: int = 4,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, Any]:
    """Stream every manifest and summarise them (plain JSON data, ``report.json``'s content).

    ``target`` is what the user named (default: the first manifest); ``jobs`` threads probe media.

    A malformed row stops the report with one ``file:line: ...`` error, as every reader does.
    """
    probes = probes if probes is not None else ProbeCache()
    col = _Collector()
    for path in map(Path, manifests):
        base = os.path.abspath(os.path.dirname(path))
        n = 0
        for recs in _chunks(rec for _lineno, rec in iter_records(path)):
            for rec, facts in zip(recs, _chunk_facts(recs, base, probes, jobs), strict=True):
                col.add(rec, facts)
            n += len(recs)
        col.files.append({"path": str(path.resolve()), "rows": n})
        if progress is not None:
            progress(str(path), n)
    return _summary(col, Path(target if target is not None else manifests[0]), probes)
