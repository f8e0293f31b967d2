"""Archive members that do not pair with the metadata: the error lists a few real member names beside the keys."""

from __future__ import annotations

import json

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import audio_clip, mp4_clip, table_bytes, tar_bytes, zip_bytes
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient

ROWS = [{"id": f"utt{i}", "text": f"words {i}"} for i in range(4)]


def _open(spec: SourceSpec):
    return open_source(spec, dataset="drifted", client=HttpClient(sleep=lambda s: None))


def test_tar_members_renamed(hub_server):
    archive = tar_bytes([(f"test/spk1/moved_{i}.wav", audio_clip(i, "wav")) for i in range(5)])
    url = hub_server.add_file("voxpopuli/test_part_0.tar.gz", archive)
    meta = hub_server.add_file("voxpopuli/asr_test.tsv", table_bytes(ROWS, "asr_test.tsv"))
    spec = SourceSpec(kind="http_tar", url=url, metadata=meta, columns={"audio": "id", "text": "text", "id": "id"},
                      options={"metadata_format": "tsv", "member_template": "{id}.wav"})
    src = _open(spec)
    with pytest.raises(SourceUnavailable) as exc:
        list(src.read(src.units()[0]))
    msg = str(exc.value)
    assert exc.value.reason == "layout"
    assert "members are like ['test/spk1/moved_0.wav', 'test/spk1/moved_1.wav', 'test/spk1/moved_2.wav']" in msg
    assert "utt0.wav" in msg and "member_template" in msg


def test_zip_members_renamed(hub_server):
    archive = zip_bytes([(f"MSRVTT/videos/all/clip{i}.mp4", mp4_clip(i % 2)) for i in range(4)])
    hub_server.add_repo("wufeim/aug_text", {"MSRVTT.zip": archive,
                                            "MSRVTT_test.csv": table_bytes([{"video_id": "video7", "sentence": "s"}],
                                                                           "x.csv")})
    spec = SourceSpec(kind="zip_range", repo="wufeim/aug_text", files=("**/MSRVTT.zip",), metadata="**/MSRVTT_test.csv",
                      columns={"video": "video_id", "text": "sentence"},
                      options={"metadata_format": "csv", "member_template": "MSRVTT/videos/all/{video_id}.mp4",
                               "member_match": "suffix"})
    with pytest.raises(SourceUnavailable) as exc:
        _open(spec).units()
    msg = str(exc.value)
    assert "members are like ['MSRVTT/videos/all/clip0.mp4', 'MSRVTT/videos/all/clip1.mp4'," in msg
    assert "MSRVTT/videos/all/video7.mp4" in msg


def test_hub_files_renamed(hub_server):
    items = [{"video": "a.mp4", "question": "q"}]
    hub_server.add_repo("OpenGVLab/MVBench", {"json/q.json": json.dumps(items).encode(),
                                              "clips/b.mp4": mp4_clip(0), "clips/c.mp4": mp4_clip(1)})
    spec = SourceSpec(kind="hf_files", repo="OpenGVLab/MVBench", files=("clips/*",), metadata="json/q.json",
                      columns={"video": "video", "question": "question"},
                      options={"metadata_format": "json", "member_match": "suffix"})
    with pytest.raises(SourceUnavailable) as exc:
        _open(spec).units()
    assert "media files are like ['clips/b.mp4', 'clips/c.mp4'], metadata keys like ['a.mp4']" in str(exc.value)
