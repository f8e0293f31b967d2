"""The file and member names seen in the 2026-12-07 audit (CATALOG_EVIDENCE.md) match the catalog's globs, and the
annotation headers seen there parse and pair with their members: each catalog change is checked against the real
layout it was written for, not only against a fixture built from the entry itself."""

from __future__ import annotations

import pytest

from reap_omni.catalog.registry import get_dataset
from reap_omni.sources.hub import match_any
from reap_omni.sources.hub_parquet import default_patterns
from reap_omni.sources.join import MemberIndex, map_fields, parse_metadata


@pytest.mark.parametrize(("name", "index", "path"), [
    ("librispeech", 0, "clean/train.100/0000.parquet"),  # main at 71cacbfb (usual layout, inferred)
    ("common_voice", 2, "en/validation/chunk-range-000000000-000009982/validation-00003-of-00008.parquet"),
    ("gigaspeech", 2, "xl/train-00003-of-02279.parquet"),
    ("avspeech", 0, "train/train-rows-000000000-000000127-000.parquet"),
    ("ave", 0, "data/train-00000-of-00002.parquet"),
    ("kinetics400", 1, "data/train-00000-of-00008.parquet"),
])
def test_parquet_file_names_seen_match(name, index, path):
    assert match_any(path, default_patterns(get_dataset(name).sources[index])), (name, path)


def test_gigaspeech_reads_four_training_shards_not_the_dev_files():
    patterns = default_patterns(get_dataset("gigaspeech").sources[2])
    assert [match_any(f"xl/train-{i:05d}-of-02279.parquet", patterns) for i in range(6)] == [True] * 4 + [False] * 2
    assert not match_any("dev/dev-00000-of-00003.parquet", patterns)


@pytest.mark.parametrize(("name", "index", "files", "metadata"), [
    ("voxceleb", 0, "vox2/vox2_test_mp4.zip", None),
    ("voxceleb1", 0, "vox1/vox1_test_wav.zip", "vox1/vox1_meta.csv"),
    ("msrvtt", 0, "MSR-VTT.tar", "data/train-00000-of-00001-60e50ff5fbbd1bb5.parquet"),
    ("meld", 1, "train/train_splits/dia125_utt3.mp4", "train/train_sent_emo.csv"),
    ("vggsound", 0, "vggsound_00.tar.gz", "vggsound.csv"),
])
def test_archive_and_metadata_names_seen_match(name, index, files, metadata):
    src = get_dataset(name).sources[index]
    assert match_any(files, src.files)
    if metadata is not None:
        assert match_any(metadata, (src.metadata,))


MELD_CSV = (
    "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    "1,also I was the point person on my company's transition from the KL-5 to GR-6 system.,Chandler,neutral,"
    "neutral,0,0,8,21,\"00:16:16,059\",\"00:16:21,731\"\n"
    "2,You must've had your hands full.,The Interviewer,neutral,neutral,0,1,8,21,\"00:16:21,940\",\"00:16:23,442\"\n"
)


@pytest.mark.parametrize("index", [0, 1])
def test_meld_train_csv_header_pairs_with_the_member_names(index):
    """declare-lab's train_sent_emo.csv header (GitHub data/MELD/) against dia{D}_utt{U}.mp4 members, for both
    MELD training sources (the nested tar and the loose files)."""
    src = get_dataset("meld").sources[index]
    rows = parse_metadata("train_sent_emo.csv", MELD_CSV.encode(), src)
    index_ = MemberIndex(src, rows)
    (_, row), = index_.match("MELD.Raw/train_splits/dia0_utt1.mp4" if index == 0 else
                             "train/train_splits/dia0_utt1.mp4")
    fields = map_fields(row, src.columns)
    assert fields["text"] == "You must've had your hands full." and fields["group"] == "The Interviewer"
    assert index_.match("train/train_splits/dia10_utt1.mp4") == []  # dia10 is not dia0


def test_vggsound_header_less_csv_row_names_its_member():
    src = get_dataset("vggsound").sources[0]
    csv = b"---g-f_I2yQ,1,people marching,test\n--0PQM4-hqg,30,waterfall burbling,train\n"  # README's columns
    rows = parse_metadata("vggsound.csv", csv, src)  # the source's filter keeps split == train only
    assert [r["youtube_id"] for r in rows] == ["--0PQM4-hqg"]
    index_ = MemberIndex(src, rows)
    assert len(index_.match("video/--0PQM4-hqg_000030.mp4")) == 1
    assert index_.match("video/---g-f_I2yQ_000001.mp4") == []  # a test row is filtered out
