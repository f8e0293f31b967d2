"""Which units and candidates a build takes: seeded, spread over shards, filtered, stopped at N.

Sources split a dataset into *units* (row groups, archive members) that can be fetched on their own. The
sampler orders them with a seeded round robin over shuffled shards, so the first units come from as many
files as possible (recordings and speakers are usually grouped by file), and gives each unit a *quota* of
rows. How many units a build reads by default is ``default_units``: enough to cover as many distinct shards
as the diversity cap allows, and no more than the rows need (the smallest read is a whole unit, so every
extra unit is bytes). A unit contributes the first ``quota`` good rows of its candidate stream, preferring speakers or
recordings it has not used yet; when units fall short (exhausted, failing media), the deficit goes to fresh
units in a next round. Each unit's result depends only on its own data, never on thread timing, so the
chosen set is the same for a given seed whatever ``--workers`` is, and a rerun after an interruption
reproduces it: rows already in the manifest are *credited* to their unit instead of being fetched again.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from reap_omni.fileio import WriteFailed
from reap_omni.sources.base import Candidate, Source, SourceUnavailable, Unit

#: What processing a candidate can answer: ``OK``, ``FULL`` (the dataset already has its rows), or a
#: rejection reason such as ``decode_error`` / ``too_short`` / ``no_audio_stream``.
OK = "ok"
FULL = "full"


def diversity_cap(target: int) -> int:
    """Most distinct shards a default build of ``target`` rows aims for: ``min(N, round(2*sqrt(N)))``.

    20 for 100 rows (each shard then gives at least about ``sqrt(N)/2`` = 5 rows), 8 for 16, 200 for 10,000.
    Spreading wider buys speakers and recordings with whole extra row groups; the square root keeps that
    cost growing slowly.
    """
    return max(1, min(target, round(2 * math.sqrt(target))))


def default_units(units: Sequence[Unit], target: int) -> int:
    """Default number of units a build of ``target`` rows reads first (``--spread`` overrides it).

    ``max(min(shards, diversity_cap(N)), ceil(N / rows_per_unit))``, at most the number of units, where
    ``rows_per_unit`` is the median ``Unit.rows``. The first term buys diversity: one unit in each of as many
    distinct shards as the cap allows (``order_units`` puts one unit per shard first). The second is the
    fewest units that hold the rows. Nothing more is read up front: for 100 rows from 10 shards of 100-row
    row groups that is 10 row groups, one per shard, 10 rows each, about a tenth of the split. Units read
    later only replace rows that were rejected or missing. When sources do not know their units' rows
    (streamed archives), the count is ``diversity_cap(N)``, as if every unit could hold any quota.
    """
    if not units:
        return 0
    shards = len({u.shard for u in units})
    cap = diversity_cap(target)
    known = sorted(u.rows for u in units if u.rows is not None and u.rows > 0)
    if len(known) * 2 < len(units):  # mostly unknown sizes: nothing to be byte-aware about
        need = cap
    else:
        need = math.ceil(target / known[len(known) // 2])
    return min(len(units), max(min(shards, cap), need))


def order_units(units: Sequence[Unit], seed: int, salt: str) -> list[Unit]:
    """Seeded order of ``units``: shards shuffled, units shuffled within shards, then a round robin.

    The first ``k`` units of the result therefore cover ``min(k, shards)`` distinct shards. ``salt`` (the
    dataset and source) keeps two datasets with the same seed from sampling the same positions.

    Within a shard whose units all state ``cost_bytes``, the cheaper half (cost at most the shard's median)
    comes first, in seeded order, then the rest: the one unit a default build reads per shard costs at most
    the shard's median, and the seed still picks among half the units. Trade-off: on speech corpora cost
    follows duration, so samples lean toward row groups of shorter utterances (never toward the shortest
    alone); ``benchmarks/download_efficiency.py`` prints the sample's mean duration next to the split's.
    """
    rng = random.Random(f"{seed}:{salt}")
    by_shard: dict[str, list[Unit]] = {}
    for u in sorted(units, key=lambda u: (u.shard, u.index, u.key)):
        by_shard.setdefault(u.shard, []).append(u)
    shards = sorted(by_shard)
    rng.shuffle(shards)
    queues = []
    for s in shards:
        q = by_shard[s]
        rng.shuffle(q)
        queues.append(_cheaper_half_first(q))
    out: list[Unit] = []
    depth = 0
    while len(out) < len(units):
        for q in queues:
            if depth < len(q):
                out.append(q[depth])
        depth += 1
    return out


def _cheaper_half_first(queue: list[Unit]) -> list[Unit]:
    """``queue`` (already in seeded order) with its cheaper half first; unchanged when a cost is unknown."""
    if len(queue) < 2 or any(u.cost_bytes is None for u in queue):
        return queue
    ranked = sorted(range(len(queue)), key=lambda i: queue[i].cost_bytes)  # stable: ties keep the seeded order
    cheap = set(ranked[: (len(queue) + 1) // 2])
    return [queue[i] for i in range(len(queue)) if i in cheap] + [queue[i] for i in range(len(queue))
                                                                  if i not in cheap]  # fmt: skip


@dataclass(frozen=True)
class UnitTask:
    """Read ``unit`` until it has given ``quota`` good rows (credited rows included)."""

    unit: Unit
    quota: int


@dataclass
class UnitResult:
    """What reading one unit produced; ``rejected`` counts candidates turned away, by reason."""

    task: UnitTask
    good: int = 0  # new rows written plus rows credited from the existing manifest
    credited: int = 0
    attempts: int = 0  # candidates sent to media processing
    exhausted: bool = False  # the unit has no more candidates
    full: bool = False  # the dataset reached its target while this unit was being read
    error: str | None = None  # why the unit could not be read (one line)
    error_reason: str | None = None  # short category for stats (network, layout, source_error, ...)
    rejected: Counter = field(default_factory=Counter)


def plain_text(fields: Mapping[str, Any]) -> str | None:
    """The ``text`` field with whitespace collapsed (the default renderer, for tests and simple sources)."""
    text = fields.get("text")
    return " ".join(str(text).split()) if text is not None else ""


@dataclass
class CandidateFilter:
    """Cheap checks on a candidate's fields, before any media is decoded.

    ``render`` turns the source fields into the row text (the dataset's template and cleaner) and returns
    ``None`` when a cleaner drops the row (e.g. a GigaSpeech ``<SIL>`` segment). An empty text is a reject
    unless ``allow_empty_text`` (datasets with no text at all, such as speaker corpora). Text (S0) rows carry no
    media (``needs_media`` off); their ``render`` gives the answer.
    """

    render: Callable[[Mapping[str, Any]], str | None] = plain_text
    allow_empty_text: bool = False
    language: str | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    needs_media: bool = True

    def check(self, cand: Candidate) -> tuple[str | None, str]:
        """``(None, text)`` when the candidate may be used; otherwise ``(reason, "")``."""
        if not cand.media and self.needs_media:
            return "no_media", ""
        text = self.render(cand.fields)
        if text is None:
            return "text_dropped", ""
        if not text and not self.allow_empty_text:
            return "empty_text", ""
        if self.language is not None:
            lang = cand.fields.get("lang") or cand.fields.get("language")
            if lang and not _same_language(str(lang), self.language):
                return "other_language", ""
        duration = known_duration(cand)
        if duration is not None:
            if self.min_duration is not None and duration < self.min_duration:
                return "too_short", ""
            if self.max_duration is not None and duration > self.max_duration:
                return "too_long", ""
        return None, text


def known_duration(cand: Candidate) -> float | None:
    """Duration the source already states (a ``duration`` column, or ``end - start``), else ``None``."""
    f = cand.fields
    try:
        if f.get("duration") is not None:
            return float(f["duration"])
        if f.get("start") is not None and f.get("end") is not None:
            return float(f["end"]) - float(f["start"])
    except (TypeError, ValueError):
        return None
    return None


def _same_language(found: str, wanted: str) -> bool:
    """``en`` matches ``en``, ``en-US`` and ``en_us``: compare the primary subtag, case-insensitively."""
    a = found.replace("_", "-").lower()
    b = wanted.replace("_", "-").lower()
    return a == b or a.split("-")[0] == b.split("-")[0]


@dataclass
class UnitContext:
    """What a unit read needs besides the unit: the source, keys already done, and the row processor.

    ``process(candidate, text, unit, full_key)`` normalises media and appends the row; it returns ``OK``,
    ``FULL`` or a rejection reason. ``key_prefix`` makes candidate keys unique across a dataset's sources.
    """

    source: Source
    process: Callable[[Candidate, str, Unit, str], str]
    cand_filter: CandidateFilter
    key_prefix: str = ""
    #: keys already in the manifest: the build's live set (rows written earlier in this run included), so a
    #: unit read again in a later round credits its own earlier rows instead of writing them twice
    done_keys: AbstractSet[str] = frozenset()
    done_by_unit: Counter = field(default_factory=Counter)
    oversample: float = 2.0
    is_full: Callable[[], bool] = lambda: False
    only_keys: frozenset[str] | None = None  # --from-lock: other candidates are passed over silently


def read_unit(task: UnitTask, ctx: UnitContext) -> UnitResult:
    """Take up to ``task.quota`` good rows from one unit (see module doc). Never raises for source trouble."""
    res = UnitResult(task)
    unit_id = ctx.key_prefix + task.unit.key
    if ctx.done_by_unit.get(unit_id, 0) >= task.quota:
        res.good = res.credited = task.quota  # finished in an earlier run: no need to fetch it again
        return res
    max_attempts = max(task.quota + 1, math.ceil(task.quota * ctx.oversample))
    lookahead = max(8, 4 * task.quota)  # how far to look for new speakers before reusing one
    seen_groups: set[str] = set()
    seen_keys: set[str] = set()  # a key the stream repeats (a hostile or sloppy index) counts once
    deferred: list[tuple[Candidate, str]] = []
    scanned = 0
    stream = None
    try:
        stream = ctx.source.read(task.unit)
        for cand in stream:
            scanned += 1
            full_key = ctx.key_prefix + cand.key
            if ctx.only_keys is not None and full_key not in ctx.only_keys:
                continue
            if full_key in seen_keys:
                res.rejected["duplicate_key"] += 1
                continue
            seen_keys.add(full_key)
            if full_key in ctx.done_keys:
                res.good += 1
                res.credited += 1
                if cand.group is not None:
                    seen_groups.add(cand.group)
            else:
                reason, text = ctx.cand_filter.check(cand)
                if reason is not None:
                    res.rejected[reason] += 1
                elif cand.group is not None and cand.group in seen_groups:
                    if len(deferred) < task.quota:
                        deferred.append((cand, text))
                else:
                    if cand.group is not None:
                        seen_groups.add(cand.group)
                    _attempt(cand, text, task.unit, full_key, ctx, res)
            if res.good >= task.quota or res.full or res.attempts >= max_attempts:
                break
            if scanned >= lookahead and res.good + len(deferred) >= task.quota:
                break
        else:
            res.exhausted = True
        for cand, text in deferred:
            if res.good >= task.quota or res.full or res.attempts >= max_attempts:
                break
            _attempt(cand, text, task.unit, ctx.key_prefix + cand.key, ctx, res)
    except SourceUnavailable as exc:
        res.error, res.error_reason = str(exc), exc.reason
    except WriteFailed:
        raise  # the output cannot take rows: the whole build stops (see BuildRunner)
    except OSError as exc:
        res.error, res.error_reason = f"{task.unit.key}: {exc.strerror or exc}", "network"
    except Exception as exc:  # a source bug must not take the other units and datasets down with it
        res.error, res.error_reason = f"{task.unit.key}: {type(exc).__name__}: {exc}", "source_error"
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # stops the transfer of a streamed archive early
    return res


def _attempt(cand: Candidate, text: str, unit: Unit, full_key: str, ctx: UnitContext, res: UnitResult) -> None:
    if ctx.is_full():
        res.full = True
        return
    res.attempts += 1
    outcome = ctx.process(cand, text, unit, full_key)
    if outcome == OK:
        res.good += 1
    elif outcome == FULL:
        res.full = True
    else:
        res.rejected[outcome] += 1


class RoundPlanner:
    """Hands out rounds of ``UnitTask``s until the target is met or the units are used up.

    Round one spreads ``target`` over the first ``spread`` units of the seeded order (``default_units``
    when ``spread`` is None); each next round gives the remaining deficit to as many fresh units as the
    first round's per-unit quota needs. A quota never exceeds a unit's known ``rows``: when the units of a
    round cannot hold its rows, the round takes the next units of the order too. When every unit has been
    tried once, units that still have candidates are read again with a larger quota.
    """

    def __init__(self, units: Sequence[Unit], target: int, spread: int | None):
        self.order = list(units)
        self.target = target
        k = min(len(self.order), spread or default_units(self.order, target))
        self.per_unit = max(1, math.ceil(target / max(1, k)))
        self._first = k
        self._next = 0
        self._good: Counter = Counter()  # unit key -> good rows so far
        self._open: dict[str, Unit] = {}  # units read but not exhausted nor failed: can give more
        self.delivered = 0

    def first_round(self) -> list[UnitTask]:
        return self._fresh(self._first, self.target)

    def next_round(self, results: Iterable[UnitResult]) -> list[UnitTask]:
        """Record ``results`` of the last round and return the next one (empty when there is none)."""
        for r in results:
            key = r.task.unit.key
            gained = r.good - self._good[key]
            self._good[key] = r.good
            self.delivered += max(0, gained)
            if r.error is not None or r.exhausted or (r.good < r.task.quota and not r.full):
                self._open.pop(key, None)
            else:
                self._open[key] = r.task.unit
            if r.full:
                return []
        deficit = self.target - self.delivered
        if deficit <= 0:
            return []
        if self._next < len(self.order):
            n = min(len(self.order) - self._next, math.ceil(deficit / self.per_unit))
            return self._fresh(n, deficit)
        revisit = [u for u in self.order if u.key in self._open]
        if not revisit:
            return []
        shares = _split(deficit, len(revisit))
        return [UnitTask(u, self._good[u.key] + s) for u, s in zip(revisit, shares, strict=True) if s > 0]

    def _fresh(self, n: int, rows: int) -> list[UnitTask]:
        """The next ``n`` units of the order (more when their known rows cannot hold ``rows``), with quotas."""
        units = self.order[self._next:self._next + n]
        rest = self.order[self._next + len(units):]
        room = _room(units)
        while room is not None and room < rows and rest:
            units.append(rest.pop(0))
            room = _room(units)
        self._next += len(units)
        quotas = _share(rows, [u.rows for u in units])
        return [UnitTask(u, q) for u, q in zip(units, quotas, strict=True) if q > 0]


def _room(units: Sequence[Unit]) -> int | None:
    """Rows ``units`` can give together, or None when one of them does not say."""
    if any(u.rows is None for u in units):
        return None
    return sum(u.rows for u in units)  # type: ignore[misc]


def _share(total: int, caps: Sequence[int | None]) -> list[int]:
    """``total`` split as evenly as possible, first parts first, no part above its cap (None: no cap).

    What a capped part cannot take goes to the others; the sum is less than ``total`` only when the caps
    are.
    """
    quotas = [0] * len(caps)
    live = [i for i, c in enumerate(caps) if c is None or c > 0]
    left = total
    while left > 0 and live:
        still = []
        for i, s in zip(live, _split(left, len(live)), strict=True):
            give = s if caps[i] is None else min(s, caps[i] - quotas[i])  # type: ignore[operator]
            quotas[i] += give
            left -= give
            if caps[i] is None or quotas[i] < caps[i]:  # type: ignore[operator]
                still.append(i)
        if len(still) == len(live):
            break  # nobody hit a cap: everything was given out
        live = still
    return quotas


def _split(total: int, parts: int) -> list[int]:
    if parts <= 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]
