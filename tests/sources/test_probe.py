"""``sources.probe`` against drifted copies built on the fixture Hub: a renamed column, moved files, a missing repo,
a gated repo, a removed revision, an old parquet layout, archives and metadata; bytes stay within the budget."""

from __future__ import annotations

import msgspec

from reap_omni.catalog.spec import DatasetSpec, SourceSpec
from reap_omni.fixtures.repos import (
    audio_clip,
    card,
    librispeech_rows,
    mp4_clip,
    parquet_bytes,
    table_bytes,
    tar_bytes,
    zip_bytes,
)
from reap_omni.sources.hub_parquet import CONVERT_BRANCH
from reap_omni.sources.probe import (
    PROBE_BUDGET,
    ProbeResult,
    dataset_ok,
    failing_datasets,
    probe_datasets,
    probe_source,
)

FLEURS_COLUMNS = {"audio": "audio", "text": "raw_transcription", "id": "id"}


def fleurs_shard(n: int = 6, **rename: str) -> bytes:
    cols = librispeech_rows(n, speakers_every=3)
    cols = {"id": cols["id"], "audio": cols["audio"], "raw_transcription": cols["text"],
            "transcription": [t.lower() for t in cols["text"]]}
    return parquet_bytes({rename.get(k, k): v for k, v in cols.items() if rename.get(k) != ""}, row_group_size=3)


def dataset(*sources: SourceSpec, name: str = "drifted", access: str = "") -> DatasetSpec:
    return DatasetSpec(name=name, title=name, stratum="S1", modality="audio", task="asr", description_en="x",
                       description_zh="x", scale="1 h", licence="CC-BY-4.0", homepage="https://example.org",
                       sources=sources, access=access, gated=bool(access), access_zh="x" if access else "")


def parquet_spec(repo: str, **kw) -> SourceSpec:
    return SourceSpec(kind="hf_parquet", repo=repo, **{"config": "en_us", "split": "test", "columns": FLEURS_COLUMNS,
                                                       **kw})


def probe(spec: SourceSpec, **kw) -> ProbeResult:
    return probe_source(dataset(spec), 0, **kw)


def test_healthy_parquet_reads_only_the_footer(hub_server):
    data = fleurs_shard()
    hub_server.add_repo("google/fleurs", {"en_us/test/0000.parquet": data, "en_us/test/0001.parquet": data})
    hub_server.reset_counters()
    r = probe(parquet_spec("google/fleurs"))
    assert r.ok and r.problems == [] and r.fix is None and r.where == "google/fleurs@main"
    footer = int.from_bytes(data[-8:-4], "little")
    assert hub_server.bytes_served("*.parquet") == 8 + footer  # the footer and its length: no row data
    assert hub_server.bytes_served("*/0001.parquet") == 0
    assert r.bytes == hub_server.total_bytes < 10_000


def test_renamed_column_gives_the_real_columns_and_the_fix(hub_server):
    hub_server.add_repo("google/fleurs", {"en_us/test/0000.parquet": fleurs_shard(raw_transcription="")})
    r = probe(parquet_spec("google/fleurs"))
    assert not r.ok
    assert "assumed columns.text='raw_transcription' but found [id, audio, transcription]" in r.problems[0]
    assert r.fix == "--source-option drifted:0:columns.text=transcription"
    fixed = probe(parquet_spec("google/fleurs", columns={**FLEURS_COLUMNS, "text": "transcription"}))
    assert fixed.ok


def test_moved_files_found_through_the_card_are_ok_with_a_pin(hub_server):
    hub_server.add_repo("org/moved", {"README.md": card([("en_us", "test", "parquet/en_us/test-*.parquet")]),
                                      "parquet/en_us/test-00000.parquet": fleurs_shard()})
    r = probe(parquet_spec("org/moved", files=("en_us/test/*.parquet",)))
    assert r.ok and r.fix == '--source-option drifted:0:files=["parquet/en_us/test-*.parquet"]'
    assert any("configs:" in n for n in r.notes)


def test_moved_files_found_nowhere(hub_server):
    hub_server.add_repo("org/moved", {"elsewhere/x.parquet": fleurs_shard()})
    r = probe(parquet_spec("org/moved", files=("en_us/test/*.parquet",)))
    assert not r.ok and r.fix is None
    assert "no file of org/moved@main matches ['en_us/test/*.parquet'] (found: no files under en_us/test/)" \
        in r.problems[0]
    assert f"org/moved has no {CONVERT_BRANCH} branch" in r.problems[0]


def test_missing_repo(hub_server):
    r = probe(parquet_spec("org/gone"))
    assert not r.ok and "dataset repo org/gone not found" in r.problems[0] and r.fix is None


def test_missing_repo_with_a_fallback_that_works(hub_server):
    hub_server.add_repo("lmms-lab/fleurs", {"en_us/test/0000.parquet": fleurs_shard()})
    r = probe(parquet_spec("lmms-eval/fleurs", fallback_repos=("lmms-lab/fleurs",)))
    assert r.ok and r.where == "lmms-lab/fleurs@main"
    assert any("fallback lmms-lab/fleurs was used" in n for n in r.notes)


def test_gated_repo_says_how_to_get_access(hub_server):
    hub_server.add_repo("speechcolab/gigaspeech", {"en_us/test/0000.parquet": fleurs_shard()}, gated=True,
                        allowed_tokens=("hf_goodtoken123",))
    spec = parquet_spec("speechcolab/gigaspeech")
    access = "accept the terms at https://huggingface.co/datasets/speechcolab/gigaspeech"
    r = probe_source(dataset(spec, access=access), 0)
    assert not r.ok and "HTTP 401" in r.problems[0] and access in r.problems[0]
    denied = probe_source(dataset(spec, access=access), 0, token="hf_otheraccount99")
    assert not denied.ok and "HTTP 403" in denied.problems[0]
    assert probe_source(dataset(spec, access=access), 0, token="hf_goodtoken123").ok


def test_removed_revision_is_retried_at_main(hub_server):
    hub_server.add_repo("google/fleurs", {"en_us/test/0000.parquet": fleurs_shard()})
    r = probe(parquet_spec("google/fleurs", revision="0" * 40))
    assert not r.ok and f"revision {'0' * 40!r} of google/fleurs does not exist" in r.problems[0]
    assert r.fix == "--source-option drifted:0:revision=main" and "at main: the source works" in r.notes


def test_old_parquet_layout(hub_server):
    """fleurs' stored parquet branch: ``en_us/fleurs-test.parquet``."""
    hub_server.add_repo("google/fleurs", {"README.md": b"# script\n", "fleurs.py": b"#"})
    hub_server.add_repo("google/fleurs", {"en_us/fleurs-test.parquet": fleurs_shard()}, revision=CONVERT_BRANCH)
    direct = probe(parquet_spec("google/fleurs", revision=CONVERT_BRANCH))
    assert direct.ok and direct.fix is None and direct.where == f"google/fleurs@{CONVERT_BRANCH}"
    found = probe(parquet_spec("google/fleurs"))
    assert found.ok and found.fix == f"--source-option drifted:0:revision={CONVERT_BRANCH}"


def test_renamed_split(hub_server):
    hub_server.add_repo("fixie-ai/gigaspeech", {"README.md": card([("dev", "dev", "dev/dev-*")]),
                                                "dev/dev-00000-of-00003.parquet": fleurs_shard()})
    r = probe(parquet_spec("fixie-ai/gigaspeech", config="dev", split="validation"))
    assert not r.ok and r.fix == "--source-option drifted:0:split=dev"


def _tar_spec(url: str, meta: str, **columns: str) -> SourceSpec:
    return SourceSpec(kind="http_tar", url=url, metadata=meta,
                      columns={"audio": "id", "text": "normalized_text", "id": "id", **columns},
                      options={"metadata_format": "tsv", "member_template": "{id}.wav"})


def test_http_tar_archive_and_metadata(hub_server):
    rows = [{"id": f"u{i}", "normalized_text": f"words {i}", "speaker_id": "s"} for i in range(3)]
    url = hub_server.add_file("vp/test_part_0.tar.gz", tar_bytes([(f"test/u{i}.wav", audio_clip(i, "wav"))
                                                                   for i in range(3)]))
    meta = hub_server.add_file("vp/asr_test.tsv", table_bytes(rows, "asr_test.tsv"))
    ok = probe(_tar_spec(url, meta))
    assert ok.ok and any("first member test/u0.wav" in n for n in ok.notes), ok.notes
    assert ok.bytes <= 4096 + 200  # the archive's first 4 KiB and the small tsv; HEADs carry no body

    renamed = probe(_tar_spec(url, meta, text="normalised_text"))
    assert not renamed.ok and "found [id, normalized_text, speaker_id]" in renamed.problems[0]
    assert renamed.fix == "--source-option drifted:0:columns.text=normalized_text"

    gone = probe(_tar_spec(url.replace("test_part_0", "test_part_9"), meta))
    assert not gone.ok and "not found (HTTP 404)" in gone.problems[0]

    not_tar = hub_server.add_file("vp/page.tar.gz", b"<html>" + b"x" * 1000)
    assert not probe(_tar_spec(not_tar, meta)).ok


def test_zip_members_against_metadata(hub_server):
    members = [(f"videos/clip{i}.mp4", mp4_clip(i % 2)) for i in range(3)]
    rows = [{"video_id": f"clip{i}", "sentence": "a caption"} for i in range(3)]
    spec = SourceSpec(kind="zip_range", repo="org/zips", files=("videos.zip",), metadata="meta.csv",
                      columns={"video": "video_id", "text": "sentence"},
                      options={"metadata_format": "csv", "member_template": "videos/{video_id}.mp4",
                               "member_match": "suffix"})
    hub_server.add_repo("org/zips", {"videos.zip": zip_bytes(members), "meta.csv": table_bytes(rows, "m.csv")})
    r = probe(spec)
    assert r.ok, r.problems
    assert any("lists 3 members, 3 media" in n for n in r.notes)
    moved = [(f"all/other{i}.mp4", data) for i, (_, data) in enumerate(members)]
    hub_server.add_repo("org/zips", {"videos.zip": zip_bytes(moved), "meta.csv": table_bytes(rows, "m.csv")})
    r = probe(spec)
    assert not r.ok and "members are like ['all/other0.mp4', 'all/other1.mp4', 'all/other2.mp4']" in r.problems[0]


def test_hf_files_and_parquet_metadata(hub_server):
    meta = table_bytes([{"video": "a.mp4", "question": "q", "candidates": ["x"], "answer": "x"}], "m.parquet")
    hub_server.add_repo("OpenGVLab/MVBench", {"clips/a.mp4": mp4_clip(0), "json/q.parquet": meta})
    spec = SourceSpec(kind="hf_files", repo="OpenGVLab/MVBench", files=("clips/*",), metadata="json/q.parquet",
                      columns={"video": "video", "question": "question", "options": "candidate", "answer": "answer"},
                      options={"metadata_format": "parquet", "member_match": "suffix"})
    r = probe(spec)
    assert not r.ok and r.fix == "--source-option drifted:0:columns.options=candidates"
    assert hub_server.bytes_served("*/q.parquet") < len(meta)  # its footer only


def test_budget_stops_a_source_before_it_passes(hub_server):
    big = parquet_bytes({"raw_transcription": [f"row {i} " * 50 for i in range(3000)], "audio": ["x"] * 3000,
                         "id": [str(i) for i in range(3000)]}, row_group_size=10)
    hub_server.add_repo("org/big", {"en_us/test/0000.parquet": big})
    r = probe(parquet_spec("org/big"), budget=5000)
    assert not r.ok and "budget" in r.problems[0] and r.bytes <= 5000
    assert probe(parquet_spec("org/big")).ok
    # a listing announced longer than what is left is not read at all
    hub_server.add_repo("org/many", {f"en_us/test/{i:04d}.parquet": b"PAR1" for i in range(300)})
    r = probe(parquet_spec("org/many"), budget=5000)
    assert not r.ok and "budget" in r.problems[0] and r.bytes <= 5000  # the client's count: what it read


def test_local_and_mdc_are_not_probed_and_the_exit_rule():
    local = probe(SourceSpec(kind="local", note="your copy"))
    assert local.skipped and local.ok and local.notes
    ok, bad, opt_bad = (ProbeResult("a", i, "hf_parquet", ok=o, opt_in=p) for i, (o, p) in
                        enumerate([(True, False), (False, False), (False, True)]))
    assert dataset_ok([ok, bad])  # another source works
    assert not dataset_ok([bad, opt_bad]) and dataset_ok([ok, opt_bad]) and dataset_ok([local])
    assert failing_datasets([ok, ProbeResult("b", 0, "hf_tar", ok=False)]) == ["b"]


def test_probe_datasets_keeps_catalog_order_and_every_source_within_budget(hub_server):
    hub_server.add_repo("google/fleurs", {"en_us/test/0000.parquet": fleurs_shard()})
    ds = [dataset(parquet_spec("google/fleurs"), parquet_spec("org/gone"), name="one"),
          dataset(SourceSpec(kind="local", note="x"), parquet_spec("google/fleurs"), name="two")]
    results = list(probe_datasets(ds, workers=3))
    assert [(r.dataset, r.source, r.ok) for r in results] == [("one", 0, True), ("one", 1, False), ("two", 0, True),
                                                               ("two", 1, True)]
    assert all(r.bytes <= PROBE_BUDGET for r in results) and failing_datasets(results) == []
    assert {"dataset", "source", "kind", "ok", "problems", "fix"} <= set(results[1].to_json())


def test_hf_tar_metadata_in_the_repo(hub_server):
    kind = "hf_tar"
    rows = [{"id": f"u{i}", "normalized_text": "w"} for i in range(2)]
    hub_server.add_repo("facebook/voxpopuli", {
        "data/en/test/test_part_0.tar.gz": tar_bytes([(f"u{i}.wav", audio_clip(i, "wav")) for i in range(2)]),
        "data/en/asr_test.tsv": table_bytes(rows, "a.tsv")})
    spec = SourceSpec(kind=kind, repo="facebook/voxpopuli", files=("data/en/test/*.tar.gz",),
                      metadata="data/en/asr_test.tsv", columns={"audio": "id", "text": "normalized_text"},
                      options={"metadata_format": "tsv", "member_template": "{id}.wav"})
    r = probe(spec)
    assert r.ok and any("metadata data/en/asr_test.tsv" in n for n in r.notes)
    gone_meta = probe(msgspec.structs.replace(spec, metadata="data/en/asr_dev.tsv"))
    assert gone_meta.ok and any("expected inside the archive" in n for n in gone_meta.notes)
