"""Hub parquet source: units from footers, row-group reads of the needed columns only, clear layout errors."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import librispeech_parquet_repo, parquet_bytes
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.http import HttpClient
from reap_omni.sources.hub_parquet import HubParquetSource

REPO = "openslr/librispeech_asr"
SPEC = SourceSpec(kind="hf_parquet", repo=REPO, config="clean", split="test", files=("clean/test/*.parquet",),
                  columns={"audio": "audio", "text": "text", "id": "id", "group": "speaker_id"})


@pytest.fixture
def libri(hub_server):
    files = librispeech_parquet_repo(shards=3, rows_per_shard=20, row_group_size=5, speakers_every=10)
    sha = hub_server.add_repo(REPO, files)
    return hub_server, files, sha


def source(spec=SPEC, **kw):
    return HubParquetSource(spec, client=HttpClient(sleep=lambda s: None), dataset="librispeech", **kw)


def test_units_report_row_groups_and_needed_column_bytes(libri):
    server, files, _ = libri
    units = source().units()
    assert len(units) == 12 and {u.shard for u in units} == {f"clean/test/{i:04d}.parquet" for i in range(3)}
    md = pq.ParquetFile(pa.BufferReader(files["clean/test/0001.parquet"])).metadata
    rg = md.row_group(2)
    needed = sum(rg.column(j).total_compressed_size for j in range(rg.num_columns)
                 if rg.column(j).path_in_schema.split(".")[0] in {"audio", "text", "id", "speaker_id"})
    unit = next(u for u in units if u.key == "clean/test/0001.parquet#rg2")
    assert unit.cost_bytes == needed and unit.rows == 5 and unit.index == 2


def test_read_one_row_group_transfers_only_its_needed_chunks(libri):
    server, files, sha = libri
    src = source()
    units = src.units()
    server.reset_counters()
    before = src.bytes_read
    unit = units[6]  # 0001.parquet#rg2
    cands = list(src.read(unit))
    served = server.bytes_served("*/0001.parquet")
    assert served == server.total_bytes == src.bytes_read - before  # no footer refetch, no other file
    # pyarrow coalesces the chunks into one range; small holes (unneeded chunks < 8 KiB) may ride along
    assert unit.cost_bytes <= served <= unit.cost_bytes + 8192
    assert len(server.requests()) == 1
    assert [c.key for c in cands] == [f"clean/test/0001.parquet#{r}" for r in range(10, 15)]
    first = cands[0]
    assert first.media["audio"].data[:4] == b"fLaC" and first.media["audio"].name.endswith(".flac")
    assert first.fields["text"].startswith("FIXTURE UTTERANCE") and first.group == str(first.fields["group"])
    assert first.provenance.revision == sha and first.provenance.row == 10 and first.provenance.repo == REPO
    assert "file" not in first.fields  # unmapped columns are not read


def test_missing_column_names_dataset_column_and_key(libri):
    spec = SourceSpec(kind="hf_parquet", repo=REPO, files=("clean/test/*.parquet",),
                      columns={"audio": "audio", "text": "transcription"})
    with pytest.raises(SourceUnavailable) as exc:
        source(spec).units()
    msg = str(exc.value)
    assert exc.value.reason == "layout"
    assert msg.startswith("librispeech: source #0 assumed columns.text='transcription' but found [file, audio, text")
    assert "speaker_id" in msg and "openslr/librispeech_asr@main/clean/test/0000.parquet" in msg
    assert "--source-option librispeech:0:columns.text=<value>" in msg  # no close name: the probe cannot tell


def test_convert_branch_fallback_repo_and_class_labels(hub_server):
    cols = {"video": [{"bytes": b"\x00\x00\x00\x18ftypmp42" + bytes(50), "path": None}] * 4,
            "emotion": [0, 2, 1, 0]}
    data = parquet_bytes(cols, row_group_size=2, class_labels={"emotion": ["joy", "anger", "fear"]})
    hub_server.add_repo("lmms-lab/X", {"default/partial-test/0000.parquet": data}, revision="refs/convert/parquet")
    spec = SourceSpec(kind="hf_parquet", repo="lmms-eval/X", fallback_repos=("lmms-lab/X",), config="default",
                      split="test", revision="refs/convert/parquet", columns={"video": "video", "label": "emotion"})
    src = source(spec)
    units = src.units()
    assert src.repo.repo == "lmms-lab/X" and len(units) == 2
    cands = list(src.read(units[0]))
    assert [c.fields["label"] for c in cands] == ["joy", "fear"]
    assert cands[0].media["video"].name.endswith(".mp4")
    assert cands[0].group == "default/partial-test/0000.parquet"


def test_gated_repo_is_reported(hub_server):
    hub_server.add_repo(REPO, librispeech_parquet_repo(shards=1, rows_per_shard=5), gated=True)
    with pytest.raises(SourceUnavailable) as exc:
        source().units()
    assert exc.value.reason == "gated" and "hf auth login" in str(exc.value)


def test_faults_during_reads_are_retried(libri):
    server, _, _ = libri
    src = source()
    units = src.units()
    server.add_fault("*/0002.parquet", "truncate", fraction=0.4)
    server.add_fault("*/0002.parquet", "500")
    server.add_fault("*/0002.parquet", "drop")
    assert len(list(src.read(units[-1]))) == 5


def test_column_syntax_and_optional_columns(hub_server):
    cols = {"video": [{"bytes": b"\x1a\x45\xdf\xa3webm" + bytes(20), "path": "a"}] * 2, "question": ["q1", "q2"],
            "option0": ["x", "y"], "option1": ["z", "w"], "enCap": [["first", "second"], ["only"]]}
    hub_server.add_repo("o/qa", {"data/test-00000-of-00001.parquet": parquet_bytes(cols)})
    spec = SourceSpec(kind="hf_parquet", repo="o/qa", split="test",
                      columns={"video": "video", "question": "question", "options": "option0,option1",
                               "text": "enCap[0]", "group": "speaker"})  # group is optional and absent
    src = source(spec)
    cands = [c for u in src.units() for c in src.read(u)]
    assert cands[1].fields == {"question": "q2", "options": ["y", "w"], "text": "only"}
    assert cands[0].media["video"].name == "a.webm"
