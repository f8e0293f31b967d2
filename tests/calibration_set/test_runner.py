import io
import json
import os

import pytest
from build_helpers import MemorySource, dataset

from reap_omni.calibration_set.options import BuildOptions, MediaOptions
from reap_omni.calibration_set.plan import per_dataset_plan
from reap_omni.calibration_set.runner import BuildRunner
from reap_omni.catalog.spec import SourceSpec
from reap_omni.errors import ReapOmniError
from reap_omni.manifest.lock import read_lock
from reap_omni.manifest.record import iter_records
from reap_omni.media.probe import probe
from reap_omni.sources.base import SourceUnavailable

SPEC = SourceSpec(kind="hf_parquet", repo="org/toy", columns={"audio": "audio", "text": "text"})
FALLBACK = SourceSpec(kind="hf_parquet", repo="org/toy-mirror", columns={"audio": "audio", "text": "text"})


def build(tmp_path, datasets, sources, samples=6, **kw):
    opts = BuildOptions(output=tmp_path / "out", samples=samples, quiet=True, **kw)
    out, err = io.StringIO(), io.StringIO()
    runner = BuildRunner(opts, lambda spec, name: sources[spec.repo], out=out, err=err,
                         licence_of=lambda n: "CC-BY-4.0")
    stats = runner.run(per_dataset_plan(datasets, samples))
    runner.finish()
    return stats, out.getvalue(), err.getvalue(), opts


def rows(opts, stratum="audio"):
    path = opts.manifest_path(stratum)
    return [r for _, r in iter_records(path)] if path.exists() else []


def test_audio_build_writes_valid_rows_media_lock_and_stats(tmp_path):
    src = MemorySource(SPEC)
    stats, out, err, opts = build(tmp_path, [dataset()], {"org/toy": src}, samples=6)
    recs = rows(opts)
    assert len(recs) == 6 and len({r.id for r in recs}) == 6
    for r in recs:
        assert os.path.isabs(r.audio) and r.audio.startswith(str(opts.output / "toy")) and r.audio.endswith(".wav")
        info = probe(r.audio)
        assert info.sample_rate == 16000 and info.channels == 1 and abs(info.duration - 0.3) < 0.02
        assert abs(r.duration - 0.3) < 0.02 and r.text.startswith("utterance number")
        assert r.source["dataset"] == "toy" and r.source["repo"] == "org/toy" and r.source["revision"]
    assert len({r.source["file"] for r in recs}) >= 3  # spread over shards, not the first file
    lock = read_lock(opts.calibration_dir / "manifest.lock.json")
    assert [x.id for x in lock.rows] == sorted(r.id for r in recs)
    assert all(x.licence == "CC-BY-4.0" and len(x.media["audio"].sha256) == 64 for x in lock.rows)
    st = json.loads((opts.calibration_dir / "stats.json").read_text())
    assert st["datasets"]["toy"]["rows"] == 6 and st["datasets"]["toy"]["status"] == "ok"
    assert st["datasets"]["toy"]["bytes_downloaded"] == src.bytes_read > 0
    assert "toy" in out and "6/6" in out and err == ""
    assert stats.failed == []


def test_same_seed_same_rows_whatever_the_workers_different_seed_differs(tmp_path):
    ids = {}
    for name, workers, seed in (("a", 1, 3), ("b", 6, 3), ("c", 4, 4)):
        _, _, _, opts = build(tmp_path / name, [dataset()], {"org/toy": MemorySource(SPEC)}, samples=8,
                              workers=workers, seed=seed)
        ids[name] = sorted(r.id for r in rows(opts))
    assert ids["a"] == ids["b"] and ids["a"] != ids["c"]


def test_rerun_resumes_without_refetching_and_ends_with_the_same_set(tmp_path):
    _, _, _, opts = build(tmp_path, [dataset()], {"org/toy": MemorySource(SPEC)}, samples=8)
    full = sorted(r.id for r in rows(opts))
    manifest = opts.manifest_path("audio")
    lines = manifest.read_bytes().splitlines(keepends=True)
    manifest.write_bytes(b"".join(lines[:3]) + lines[3][:20])  # killed mid-append
    src = MemorySource(SPEC)
    stats, _, err, _ = build(tmp_path, [dataset()], {"org/toy": src}, samples=8)
    assert sorted(r.id for r in rows(opts)) == full
    assert stats.datasets["toy"].new_rows == 5
    media = sorted(os.listdir(opts.output / "toy"))
    assert len(media) == 8 and not [m for m in media if ".tmp-" in m]
    src2 = MemorySource(SPEC)
    stats, _, _, _ = build(tmp_path, [dataset()], {"org/toy": src2}, samples=8)
    assert src2.reads == [] and stats.datasets["toy"].new_rows == 0  # finished: nothing fetched


def test_overwrite_starts_over(tmp_path):
    _, _, _, opts = build(tmp_path, [dataset()], {"org/toy": MemorySource(SPEC)}, samples=4, seed=1)
    _, _, _, opts = build(tmp_path, [dataset()], {"org/toy": MemorySource(SPEC)}, samples=4, seed=2, overwrite=True)
    recs = rows(opts)
    assert len(recs) == 4 and len(os.listdir(opts.output / "toy")) == 4


def test_bad_media_are_rejected_with_reasons_and_replaced(tmp_path):
    src = MemorySource(SPEC, bad=lambda i: i % 3 == 0, text=lambda i: "" if i % 5 == 1 else f"text {i}")
    stats, out, _, opts = build(tmp_path, [dataset()], {"org/toy": src}, samples=10)
    assert len(rows(opts)) == 10
    f = stats.datasets["toy"].failures
    assert f["undecodable"] > 0 and f["empty_text"] > 0
    assert "undecodable" in out


def test_unavailable_source_falls_back_to_the_next_one(tmp_path):
    gated = MemorySource(SPEC, unavailable=SourceUnavailable("org/toy is gated: set HF_TOKEN", "gated"))
    ds = dataset(sources=(SPEC, FALLBACK))
    stats, _, err, opts = build(tmp_path, [ds], {"org/toy": gated, "org/toy-mirror": MemorySource(FALLBACK)})
    assert len(rows(opts)) == 6 and stats.datasets["toy"].failures["gated"] == 1
    assert {r.source["repo"] for r in rows(opts)} == {"org/toy-mirror"} and stats.failed == []


def test_a_failed_dataset_does_not_stop_the_others_and_is_reported(tmp_path):
    gated = MemorySource(SPEC, unavailable=SourceUnavailable("Dataset org/toy is gated: set HF_TOKEN", "gated"))
    other_spec = SourceSpec(kind="hf_parquet", repo="org/other")
    ds = [dataset(access="accept the conditions at https://example.org"), dataset("other", sources=(other_spec,))]
    stats, out, err, opts = build(tmp_path, ds, {"org/toy": gated, "org/other": MemorySource(other_spec)})
    assert [d.name for d in stats.failed] == ["toy"]
    assert len(rows(opts)) == 6
    assert "toy: 0/6 rows: Dataset org/toy is gated: set HF_TOKEN (accept the conditions" in err
    assert "Traceback" not in err


def test_small_dataset_gives_what_it_has_and_says_so(tmp_path):
    src = MemorySource(SPEC, shards=1, units_per_shard=1, rows=3)
    stats, _, err, opts = build(tmp_path, [dataset()], {"org/toy": src}, samples=5)
    assert len(rows(opts)) == 3 and stats.datasets["toy"].status == "partial"
    assert "3/5 rows" in err


def test_duration_filters_apply_to_written_audio(tmp_path):
    src = MemorySource(SPEC, seconds=0.3)
    stats, _, _, opts = build(tmp_path, [dataset()], {"org/toy": src}, samples=2, min_duration=1.0)
    assert rows(opts) == [] and stats.datasets["toy"].failures["too_short"] > 0


def test_video_rows_are_clipped_and_stripped_mixed_rows_keep_audio(tmp_path):
    vspec = SourceSpec(kind="hf_parquet", repo="org/vid")
    mspec = SourceSpec(kind="hf_parquet", repo="org/mix")
    vsrc = MemorySource(vspec, kind="video", seconds=1.0, rows=3)
    msrc = MemorySource(mspec, kind="video", seconds=1.0, rows=3, silent=lambda i: i % 2 == 0)
    ds = [dataset("vid", "video", sources=(vspec,)), dataset("mix", "mixed", sources=(mspec,))]
    stats, _, _, opts = build(tmp_path, ds, {"org/vid": vsrc, "org/mix": msrc}, samples=3,
                              media=MediaOptions(max_video_seconds=0.6, max_side=16))
    video = rows(opts, "video")
    assert len(video) == 3
    for r in video:
        info = probe(r.video)
        assert not info.has_audio and r.has_audio is False and r.audio is None
        assert abs(r.duration - 0.6) < 0.11 and max(r.width, r.height) <= 16
    mixed = rows(opts, "mixed")
    assert len(mixed) == 3 and stats.datasets["mix"].failures["no_audio"] > 0
    for r in mixed:
        assert probe(r.video).has_audio and r.has_audio
        a = probe(r.audio)
        assert a.sample_rate == 16000 and a.channels == 1


@pytest.mark.parametrize("fmt,ext", [("flac", ".flac"), ("original", ".flac")])
def test_audio_formats(tmp_path, fmt, ext):
    _, _, _, opts = build(tmp_path, [dataset()], {"org/toy": MemorySource(SPEC)}, samples=2,
                          media=MediaOptions(audio_format=fmt))
    assert all(r.audio.endswith(ext) for r in rows(opts))


def test_from_lock_rebuilds_the_same_rows_at_the_locked_revision(tmp_path):
    from reap_omni.calibration_set.locked import media_differences, selection_from_lock
    from reap_omni.calibration_set.runner import source_id
    from reap_omni.manifest.jsonl import iter_json_objects

    ds = dataset()
    _, _, _, opts = build(tmp_path / "a", [ds], {"org/toy": MemorySource(SPEC)}, samples=5, seed=11)
    lock = read_lock(opts.calibration_dir / "manifest.lock.json")
    plan, selection, errors = selection_from_lock(lock, {"toy": ds}.get, source_id)
    assert errors == {} and [(p.name, p.target) for p in plan] == [("toy", 5)]
    opened = []

    def opener(spec, name):
        opened.append(spec.revision)
        return MemorySource(spec)

    opts2 = BuildOptions(output=tmp_path / "b" / "out", samples=5, quiet=True)  # seed 0: the lock decides
    runner = BuildRunner(opts2, opener, out=io.StringIO(), err=io.StringIO(), selection=selection)
    runner.run(plan)
    runner.finish()
    assert sorted(r.id for r in rows(opts2)) == sorted(r.id for r in rows(opts))
    assert opened == [MemorySource(SPEC).revision]
    rebuilt = [o for _, o in iter_json_objects(opts2.manifest_path("audio"))]
    assert media_differences(lock, rebuilt) == []

    def gone(name):
        raise ReapOmniError(f"unknown dataset {name!r}")

    plan, _, errors = selection_from_lock(lock, gone, source_id)
    assert plan == [] and "unknown dataset" in errors["toy"]


def test_language_option_checks_multilingual_datasets_and_filters_rows(tmp_path):
    class Lang(MemorySource):
        def read(self, unit):
            for c in super().read(unit):
                c.fields["lang"] = "de" if int(c.fields["id"][3:]) % 2 else "en"
                yield c

    ds = dataset(languages=("en", "de"))
    stats, _, err, opts = build(tmp_path / "a", [ds], {"org/toy": Lang(SPEC)}, samples=4, language="de")
    assert len(rows(opts)) == 4 and {r.lang for r in rows(opts)} == {"de"}
    assert stats.datasets["toy"].failures["other_language"] > 0
    stats, _, err, _ = build(tmp_path / "b", [ds], {"org/toy": Lang(SPEC)}, samples=4, language="fr")
    assert "--language fr is not one of this dataset's: en, de" in err
