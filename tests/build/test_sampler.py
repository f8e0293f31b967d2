from collections import Counter

from build_helpers import MemorySource

from reap_omni.build.sampler import (
    FULL,
    OK,
    CandidateFilter,
    RoundPlanner,
    UnitContext,
    UnitResult,
    UnitTask,
    auto_spread,
    order_units,
    read_unit,
)
from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import Candidate, MediaBlob, Provenance, SourceUnavailable, Unit

SPEC = SourceSpec(kind="hf_parquet", repo="org/toy")


def grid(shards=10, per_shard=10):
    return [Unit(key=f"f{s}#rg{u}", shard=f"f{s}", index=u, rows=50) for s in range(shards) for u in range(per_shard)]


def test_first_units_cover_distinct_shards_and_order_is_seeded():
    units = grid()
    a = order_units(units, 0, "ds")
    assert len({u.shard for u in a[:10]}) == 10
    assert len({u.shard for u in a[:auto_spread(100)]}) == 10
    assert [u.key for u in a] == [u.key for u in order_units(list(reversed(units)), 0, "ds")]
    assert [u.key for u in a] != [u.key for u in order_units(units, 1, "ds")]
    assert [u.key for u in a] != [u.key for u in order_units(units, 0, "other")]
    assert sorted(u.key for u in a) == sorted(u.key for u in units)


def test_auto_spread_grows_slowly():
    assert auto_spread(1) == 2 and auto_spread(100) == 20 and auto_spread(10000) == 200


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
