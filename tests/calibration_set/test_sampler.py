from collections import Counter

from build_helpers import MemorySource

from reap_omni.calibration_set.sampler import (
    FULL,
    OK,
    CandidateFilter,
    RoundPlanner,
    UnitContext,
    UnitResult,
    UnitTask,
    default_units,
    diversity_cap,
    order_units,
    read_unit,
)
from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit

SPEC = SourceSpec(kind="hf_parquet", repo="org/toy")


def grid(shards=10, per_shard=10, rows=50, cost=None):
    return [Unit(key=f"f{s}#rg{u}", shard=f"f{s}", index=u, rows=rows, cost_bytes=cost(s, u) if cost else None)
            for s in range(shards) for u in range(per_shard)]


def test_first_units_cover_distinct_shards_and_order_is_seeded():
    units = grid()
    a = order_units(units, 0, "ds")
    assert len({u.shard for u in a[:10]}) == 10
    assert len({u.shard for u in a[:default_units(units, 100)]}) == 10
    assert [u.key for u in a] == [u.key for u in order_units(list(reversed(units)), 0, "ds")]
    assert [u.key for u in a] != [u.key for u in order_units(units, 1, "ds")]
    assert [u.key for u in a] != [u.key for u in order_units(units, 0, "other")]
    assert sorted(u.key for u in a) == sorted(u.key for u in units)


def test_diversity_cap_grows_slowly():
    assert diversity_cap(1) == 1 and diversity_cap(2) == 2 and diversity_cap(16) == 8
    assert diversity_cap(100) == 20 and diversity_cap(10000) == 200


def test_default_units_covers_shards_up_to_the_cap_then_only_what_the_rows_need():
    # max(min(shards, diversity_cap(N)), ceil(N / median rows per unit)), at most the number of units
    assert default_units(grid(10, 10, rows=100), 100) == 10  # the benchmark grid: one row group per shard
    assert default_units(grid(3, 10, rows=100), 100) == 3  # few shards: one unit each, no more
    assert default_units(grid(50, 4, rows=100), 100) == 20  # many shards: capped at 2*sqrt(100)
    assert default_units(grid(2, 10, rows=10), 100) == 10  # small units: as many as the rows need
    assert default_units(grid(1, 500, rows=1), 20) == 20  # zip members: one row each
    assert default_units(grid(8, 3, rows=3), 16) == 8  # 16 rows over all 8 shards (2 each)
    assert default_units(grid(1, 3, rows=10), 100) == 3  # never more units than there are
    assert default_units(grid(5, 1, rows=None), 100) == 5  # unknown sizes: the diversity cap (5 shards)
    assert default_units(grid(1, 40, rows=None), 100) == 20
    assert default_units([], 10) == 0


def test_default_first_round_of_the_benchmark_grid_reads_one_unit_per_shard():
    """100 rows from 10 shards x 10 row groups of 100 rows: 10 units, 10 shards, 10 rows each."""
    for seed in range(5):
        units = grid(10, 10, rows=100, cost=lambda s, u: 1000 + (s * 7 + u * 13) % 10)
        first = RoundPlanner(order_units(units, seed, "ds"), 100, None).first_round()
        assert len(first) == 10 and len({t.unit.shard for t in first}) == 10
        assert [t.quota for t in first] == [10] * 10
    for shards in (3, 10, 25):  # at least min(10, shards) distinct shards whatever the grid
        first = RoundPlanner(order_units(grid(shards, 10, rows=100), 0, "ds"), 100, None).first_round()
        assert len({t.unit.shard for t in first}) >= min(10, shards)
        assert sum(t.quota for t in first) == 100
    # --spread trades diversity for bytes: two units from at most two shards
    first = RoundPlanner(order_units(grid(10, 10, rows=100), 0, "ds"), 100, 2).first_round()
    assert len(first) == 2 and [t.quota for t in first] == [50, 50]


def test_first_unit_of_each_shard_comes_from_its_cheaper_half_and_the_seed_still_chooses():
    cost = lambda s, u: 1000 * (u + 1)  # noqa: E731 - unit u of every shard costs (u+1) kB
    units = grid(10, 10, rows=100, cost=cost)
    picks = set()
    for seed in range(20):
        order = order_units(units, seed, "ds")
        assert order == order_units(list(reversed(units)), seed, "ds")  # deterministic for a seed
        first = order[:10]
        assert len({u.shard for u in first}) == 10
        assert all(u.index < 5 for u in first)  # cost at most the shard's median
        assert all(u.index < 5 for u in order[:50]) and all(u.index >= 5 for u in order[50:])
        picks.update(u.index for u in first)
    assert picks == {0, 1, 2, 3, 4}  # not always the cheapest: the seed picks within the cheaper half
    # unknown costs: the plain seeded order
    plain = grid(10, 10, rows=100)
    assert [u.key for u in order_units(plain, 3, "ds")] != sorted(u.key for u in plain)


def test_quotas_never_exceed_a_units_rows_and_short_rounds_take_more_units():
    units = [Unit(key=f"f{s}#rg{u}", shard=f"f{s}", index=u, rows=100 if u < 9 else 4) for s in range(10)
             for u in range(10)]
    order = order_units(units, 0, "ds")
    small = [u for u in order if u.rows == 4]
    # a round of only small units: quotas capped at 4, further units added until the rows fit
    planner = RoundPlanner(small + [u for u in order if u.rows != 4], 100, 10)
    first = planner.first_round()
    assert all(t.quota <= (t.unit.rows or 0) for t in first)
    assert sum(t.quota for t in first) == 100 and len(first) == 11
    assert [t.quota for t in first[:10]] == [4] * 10 and first[10].quota == 60
    # unknown rows: no cap
    planner = RoundPlanner(grid(2, 2, rows=None), 100, 2)
    assert [t.quota for t in planner.first_round()] == [50, 50]


def ctx_for(source, outcomes=None, **kw):
    calls = []

    def process(cand, text, unit, key):
        calls.append((key, text))
        return (outcomes or {}).get(cand.key, OK)

    ctx = UnitContext(source=source, process=process, cand_filter=kw.pop("flt", CandidateFilter()), key_prefix="p|",
                      **kw)
    return ctx, calls


def test_read_unit_takes_quota_and_prefers_new_speakers():
    src = MemorySource(SPEC, rows=10, group=lambda i: f"spk{i % 3}")
    unit = src.units()[0]
    ctx, calls = ctx_for(src)
    res = read_unit(UnitTask(unit, 3), ctx)
    assert res.good == 3 and not res.exhausted
    assert [k.rsplit(":", 1)[1] for k, _ in calls] == ["0", "1", "2"]  # three different speakers first
    ctx, calls = ctx_for(src)
    res = read_unit(UnitTask(unit, 5), ctx)
    assert res.good == 5
    # after the three speakers, repeated speakers are used in order
    assert [k.rsplit(":", 1)[1] for k, _ in calls] == ["0", "1", "2", "3", "4"]


def test_read_unit_counts_rejections_and_stops_after_oversample_attempts():
    src = MemorySource(SPEC, rows=10, group=lambda i: None)
    unit = src.units()[0]
    ctx, calls = ctx_for(src, outcomes={f"{unit.shard}:{unit.index}:{r}": "decode_error" for r in range(10)},
                         oversample=2.0)
    res = read_unit(UnitTask(unit, 2), ctx)
    assert res.good == 0 and res.attempts == 4 and res.rejected == Counter(decode_error=4)


def test_read_unit_credits_done_rows_and_skips_finished_units():
    src = MemorySource(SPEC, rows=10, group=lambda i: None)
    unit = src.units()[0]
    done = {f"p|{unit.shard}:{unit.index}:{r}" for r in (0, 1)}
    ctx, calls = ctx_for(src, done_keys=frozenset(done))
    res = read_unit(UnitTask(unit, 3), ctx)
    assert res.good == 3 and res.credited == 2 and len(calls) == 1
    ctx, calls = ctx_for(src, done_by_unit=Counter({"p|" + unit.key: 3}))
    src.reads.clear()
    res = read_unit(UnitTask(unit, 3), ctx)
    assert res.good == 3 and src.reads == [] and calls == []


def test_read_unit_reports_source_errors_instead_of_raising():
    class Broken(MemorySource):
        def read(self, unit):
            yield from list(super().read(unit))[:1]
            raise SourceUnavailable("connection reset while reading s00", "network")

    src = Broken(SPEC, rows=10)
    ctx, _ = ctx_for(src)
    res = read_unit(UnitTask(src.units()[0], 5), ctx)
    assert res.good == 1 and res.error_reason == "network" and "connection reset" in res.error


def test_read_unit_stops_when_the_dataset_is_full():
    src = MemorySource(SPEC, rows=10)
    ctx, _ = ctx_for(src, outcomes={f"s00.parquet:0:{r}": FULL for r in range(10)})
    res = read_unit(UnitTask(src.units()[0], 5), ctx)
    assert res.full and res.good == 0


def test_filter_renders_text_and_rejects_cheaply():
    def cand(**fields):
        return Candidate("k", fields, {"audio": MediaBlob("a.wav", data=b"x")}, Provenance(kind="x"))

    flt = CandidateFilter(language="en", min_duration=1.0, max_duration=5.0)
    assert flt.check(cand(text="  hello   world ")) == (None, "hello world")
    assert flt.check(cand(text="  "))[0] == "empty_text"
    assert flt.check(cand(text="x", lang="de"))[0] == "other_language"
    assert flt.check(cand(text="x", lang="en-US"))[0] is None
    assert flt.check(cand(text="x", duration=0.5))[0] == "too_short"
    assert flt.check(cand(text="x", start=1.0, end=9.0))[0] == "too_long"
    assert CandidateFilter(render=lambda f: None).check(cand(text="<SIL>"))[0] == "text_dropped"
    assert CandidateFilter(allow_empty_text=True).check(cand())[0] is None
    assert flt.check(Candidate("k", {"text": "x"}, {}, Provenance(kind="x")))[0] == "no_media"


def result(task, good, exhausted=False, error=None):
    return UnitResult(task, good=good, exhausted=exhausted, error=error)


def test_round_planner_spreads_target_then_moves_deficit_to_fresh_units():
    units = grid(4, 5)
    planner = RoundPlanner(units, 100, spread=10)
    first = planner.first_round()
    assert len(first) == 10 and sum(t.quota for t in first) == 100 and {t.quota for t in first} == {10}
    # two units exhausted early (3 rows each): the 14-row deficit goes to 2 fresh units
    results = [result(t, 3, exhausted=True) if i < 2 else result(t, t.quota) for i, t in enumerate(first)]
    second = planner.next_round(results)
    assert sum(t.quota for t in second) == 14 and len(second) == 2
    assert not {t.unit.key for t in second} & {t.unit.key for t in first}
    assert planner.next_round([result(t, t.quota) for t in second]) == []


def test_round_planner_revisits_open_units_when_fresh_ones_run_out():
    units = grid(1, 2)
    planner = RoundPlanner(units, 30, spread=2)
    first = planner.first_round()
    results = [result(first[0], 15, exhausted=True), result(first[1], 15)]
    again = planner.next_round(results)
    assert again == []  # target met
    planner = RoundPlanner(units, 30, spread=2)
    first = planner.first_round()
    again = planner.next_round([result(first[0], 5, exhausted=True), result(first[1], 15)])
    assert [(t.unit.key, t.quota) for t in again] == [(first[1].unit.key, 25)]
    assert planner.next_round([result(again[0], 20, exhausted=True)]) == []  # nothing left: stop
