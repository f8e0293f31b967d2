"""hf_parquet discovery when a catalog fact drifted: card ``configs:``, ``refs/convert/parquet`` in both layouts,
config/split/column mismatches that name what is there and the closest name, and provenance of what was read."""

from __future__ import annotations

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import card, librispeech_rows, parquet_bytes
from reap_omni.sources.base import SourceMismatch, SourceUnavailable, closest
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub import card_data_files
from reap_omni.sources.hub_parquet import CONVERT_BRANCH, HubParquetSource, convert_splits

COLUMNS = {"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"}


def shard(n: int = 6, start: int = 0, **rename: str) -> bytes:
    cols = librispeech_rows(n, start=start, speakers_every=3)
    return parquet_bytes({rename.get(k, k): v for k, v in cols.items()}, row_group_size=3)


def source(spec: SourceSpec, index: int = 0) -> HubParquetSource:
    src = HubParquetSource(spec, client=HttpClient(sleep=lambda s: None), dataset="drifted")
    src.source_index = index
    return src


def read_all(src: HubParquetSource):
    return [c for u in src.units() for c in src.read(u)]


def script_only_main(server, repo: str) -> str:
    """A main branch like librispeech_asr's after "Revert Convert dataset to Parquet": a script, no parquet."""
    return server.add_repo(repo, {"README.md": b"---\nlicense: cc-by-4.0\n---\n# card\n",
                                  "librispeech_asr.py": b"# loading script\n"})


def test_convert_branch_new_layout_is_found_when_main_has_no_parquet(hub_server, caplog):
    repo = "openslr/librispeech_asr"
    script_only_main(hub_server, repo)
    sha = hub_server.add_repo(repo, {"clean/test/0000.parquet": shard(), "clean/test/0001.parquet": shard(start=6),
                                     "other/test/0000.parquet": shard()}, revision=CONVERT_BRANCH)
    spec = SourceSpec(kind="hf_parquet", repo=repo, config="clean", split="test", files=("clean/test/*.parquet",),
                      columns=COLUMNS)
    src = source(spec, index=0)
    cands = read_all(src)
    assert len(cands) == 12
    assert src.repo.revision == CONVERT_BRANCH and src.repo.sha == sha
    assert {c.provenance.file for c in cands} == {"clean/test/0000.parquet", "clean/test/0001.parquet"}
    assert {c.provenance.revision for c in cands} == {sha}  # the lock pins the branch that was read
    assert src.repo.pins == (f"revision={CONVERT_BRANCH}", "files=")
    assert "refs/convert/parquet clean/test" in caplog.text and "matches nothing" in caplog.text
    assert "--source-option drifted:0:revision=refs/convert/parquet --source-option drifted:0:files=" in caplog.text


def test_convert_branch_partial_split_and_default_config(hub_server):
    repo = "org/partial"
    hub_server.add_repo(repo, {"README.md": b"# no front matter\n"})
    hub_server.add_repo(repo, {"default/partial-train/0000.parquet": shard(), "default/test/0000.parquet": shard()},
                        revision=CONVERT_BRANCH)
    src = source(SourceSpec(kind="hf_parquet", repo=repo, split="train", columns=COLUMNS))
    assert {c.provenance.file for c in read_all(src)} == {"default/partial-train/0000.parquet"}
    assert src.repo.pins == (f"revision={CONVERT_BRANCH}", "config=default")


def test_old_converter_layout_name_split_parquet(hub_server):
    """fleurs' stored parquet branch: ``en_us/fleurs-test.parquet`` (and sharded ``-00000-of-00002``)."""
    repo = "google/fleurs"
    hub_server.add_repo(repo, {"README.md": b"# script dataset\n", "fleurs.py": b"#"})
    sha = hub_server.add_repo(repo, {"en_us/fleurs-test.parquet": shard(), "en_us/fleurs-train-00000-of-00002.parquet":
                                     shard(), "en_us/fleurs-train-00001-of-00002.parquet": shard()},
                              revision=CONVERT_BRANCH)
    at_main = source(SourceSpec(kind="hf_parquet", repo=repo, config="en_us", split="test", columns=COLUMNS))
    assert {c.provenance.file for c in read_all(at_main)} == {"en_us/fleurs-test.parquet"}
    # the branch named directly: the old layout is one of the usual places, no discovery needed
    direct = source(SourceSpec(kind="hf_parquet", repo=repo, revision=CONVERT_BRANCH, config="en_us", split="train",
                               columns=COLUMNS))
    assert len(read_all(direct)) == 12 and direct.repo.note == "" and direct.repo.sha == sha


def test_card_configs_data_files_are_read_like_datasets_does(hub_server):
    """lmms-lab/VATEX: config ``vatex_test`` with data_files ``vatex_test/test-*``, no ``data/`` folder."""
    repo = "lmms-lab/VATEX"
    readme = card([("vatex_test", "test", "vatex_test/test-*"), ("vatex_val", "validation", "vatex_val/val-*")])
    sha = hub_server.add_repo(repo, {"README.md": readme, "vatex_test/test-00000-of-00001.parquet": shard(),
                                     "vatex_val/val-00000-of-00001.parquet": shard(start=50)})
    spec = SourceSpec(kind="hf_parquet", repo=repo, config="vatex_test", split="test", files=("data/*.parquet",),
                      columns=COLUMNS)
    src = source(spec)
    cands = read_all(src)
    assert {c.provenance.file for c in cands} == {"vatex_test/test-00000-of-00001.parquet"}
    assert {c.provenance.revision for c in cands} == {sha}
    assert src.repo.pins == ('files=["vatex_test/test-*"]',) and "configs:" in src.repo.note


def test_renamed_split_is_a_mismatch_naming_the_real_splits_and_the_fix(hub_server):
    """fixie-ai/gigaspeech: files ``dev/dev-0000N-of-00003.parquet``: split ``dev``, not ``validation``."""
    repo = "fixie-ai/gigaspeech"
    hub_server.add_repo(repo, {"README.md": card([("dev", "dev", "dev/dev-*"), ("dev", "test", "test/test-*")]),
                               "dev/dev-00000-of-00003.parquet": shard(), "test/test-00000-of-00003.parquet": shard()})
    spec = SourceSpec(kind="hf_parquet", repo=repo, config="dev", split="validation", columns=COLUMNS)
    with pytest.raises(SourceMismatch) as exc:
        source(spec, index=2).units()
    msg = str(exc.value)
    assert "drifted: source #2 assumed split='validation' but found [dev, test]" in msg
    assert "--source-option drifted:2:split=dev" in msg and exc.value.fixes == ("drifted:2:split=dev",)
    fixed = source(SourceSpec(kind="hf_parquet", repo=repo, config="dev", split="dev", columns=COLUMNS))
    assert len(read_all(fixed)) == 6


def test_ambiguous_config_names_the_configs(hub_server):
    """agkphysics/AudioSet: configs ``balanced``/``unbalanced`` and no default."""
    repo = "agkphysics/AudioSet"
    hub_server.add_repo(repo, {"README.md": card([("balanced", "test", "data/bal_eval/*.parquet"),
                                                  ("unbalanced", "test", "data/eval/*.parquet")]),
                               "data/eval/00.parquet": shard()})
    with pytest.raises(SourceMismatch) as exc:
        source(SourceSpec(kind="hf_parquet", repo=repo, split="test", files=("test/*.parquet",),
                          columns=COLUMNS)).units()
    assert "assumed config=None but found [balanced, unbalanced]" in str(exc.value)
    assert exc.value.fixes == ("drifted:0:config=balanced",)


def test_missing_column_names_the_columns_and_the_closest_media_column(hub_server):
    """AudioLLMs/aishell_1_zh_test: columns ``context`` (audio), ``instruction``, ``answer``."""
    cols = librispeech_rows(4)
    data = parquet_bytes({"context": cols["audio"], "instruction": ["transcribe"] * 4, "answer": cols["text"]})
    hub_server.add_repo("AudioLLMs/aishell_1_zh_test", {"data/test-00000-of-00001.parquet": data})
    spec = SourceSpec(kind="hf_parquet", repo="AudioLLMs/aishell_1_zh_test", split="test",
                      columns={"audio": "audio", "text": "answr"})
    with pytest.raises(SourceMismatch) as exc:
        source(spec, index=1).units()
    msg = str(exc.value)
    assert msg.startswith("drifted: source #1 assumed columns.audio='audio' but found [context, instruction, answer]")
    assert "--source-option drifted:1:columns.audio=context" in msg and "also missing: columns.text='answr'" in msg
    assert exc.value.fixes == ("drifted:1:columns.audio=context", "drifted:1:columns.text=answer")


def test_nothing_anywhere_says_what_was_looked_at(hub_server):
    hub_server.add_repo("org/empty", {"README.md": b"hello\n", "notes.txt": b"x"})
    with pytest.raises(SourceUnavailable) as exc:
        source(SourceSpec(kind="hf_parquet", repo="org/empty", config="c", split="train", columns=COLUMNS)).units()
    msg = str(exc.value)
    assert exc.value.reason == "layout" and "no file of org/empty@main matches" in msg
    assert "no card `configs:`" in msg and f"org/empty has no {CONVERT_BRANCH} branch" in msg


def test_lock_pin_of_a_discovered_branch_reads_the_same_units(hub_server):
    """``--from-lock`` pins a source to the commit its rows name: discovery at that commit finds the same files."""
    repo = "org/pinned"
    script_only_main(hub_server, repo)
    old = {"clean/test/0000.parquet": shard()}
    sha = hub_server.add_repo(repo, old, revision=CONVERT_BRANCH)
    hub_server.add_repo(repo, old, revision=sha)  # the Hub keeps old commits addressable; the fixture needs telling
    spec = SourceSpec(kind="hf_parquet", repo=repo, config="clean", split="test", files=("x/*.parquet",),
                      columns=COLUMNS)
    first = source(spec)
    keys = [u.key for u in first.units()]
    texts = [c.fields["text"] for c in read_all(first)]
    hub_server.add_repo(repo, {"clean/test/0000.parquet": shard(start=30)}, revision=CONVERT_BRANCH)  # branch moves
    pinned = source(SourceSpec(**{**{f: getattr(spec, f) for f in spec.__struct_fields__}, "revision": sha}))
    assert [u.key for u in pinned.units()] == keys and pinned.repo.sha == sha
    assert [c.fields["text"] for c in read_all(pinned)] == texts


def test_download_lock_records_the_branch_and_file_actually_read(hub_server, tmp_path):
    from reap_omni.catalog.registry import apply_overrides, get_dataset
    from reap_omni.cli import run
    from reap_omni.fixtures.repos import add_parquet_fixture
    from reap_omni.manifest.lock import read_lock

    pins = [(0, "revision", "main"), (0, "config", "clean"), (0, "split", "train.100"), (0, "files", "")]
    spec = apply_overrides(get_dataset("librispeech"), pins).sources[0]
    script_only_main(hub_server, spec.repo)
    on_branch = SourceSpec(**{**{f: getattr(spec, f) for f in spec.__struct_fields__}, "revision": CONVERT_BRANCH})
    add_parquet_fixture(hub_server, on_branch, shards=2, rows_per_shard=6, row_group_size=3)
    sha = hub_server.repos[spec.repo].shas[CONVERT_BRANCH]
    out = tmp_path / "out"
    options = [x for i, k, v in pins for x in ("--source-option", f"librispeech:{i}:{k}={v}")]
    assert run(["download", "--dataset", "librispeech", "-o", str(out), "-n", "4", "--quiet", *options]) == 0
    rows = read_lock(out / "calibration" / "manifest.lock.json").rows
    assert len(rows) == 4
    assert {r.source["revision"] for r in rows} == {sha} and {r.source["repo"] for r in rows} == {spec.repo}
    assert {r.source["file"].rsplit("/", 1)[0] for r in rows} == {"clean/train.100"}


def test_closest_and_helpers():
    assert closest("validation", ["dev", "test"]) == "dev" and closest("test", ["eval", "train"]) == "eval"
    assert closest("transcript", ["transcription", "id"]) == "transcription" and closest("x", ["only"]) == "only"
    assert closest("zzz", ["a", "b"]) is None
    assert convert_splits(["c/fleurs-test.parquet", "c/fleurs-train-00000-of-00002.parquet", "c/partial-dev/0.parquet",
                           "c/test/0000.parquet", "d/test/0000.parquet"], "c", "google/fleurs") == {
        "test": ["c/fleurs-test.parquet", "c/test/0000.parquet"], "train": ["c/fleurs-train-00000-of-00002.parquet"],
        "dev": ["c/partial-dev/0.parquet"]}
    assert card_data_files({"data_files": "all/*.parquet"}) == {"train": ["all/*.parquet"]}
    assert card_data_files({"data_files": {"test": ["a/*", "b/*"]}}) == {"test": ["a/*", "b/*"]}
    assert card_data_files({"data_dir": "en"}, "dev")["dev"][0] == "en/dev-*"
