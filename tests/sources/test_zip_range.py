"""Zip members by Range requests: central directory first, then only the chosen members."""

from __future__ import annotations

import os
import zipfile

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import mp4_clip, table_bytes, zip_bytes
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.http import HttpClient

NAMES = [f"vid{i:03d}" for i in range(40)]


def _zip(deflate: bool = False) -> bytes:
    pad = os.urandom(200_000)
    return zip_bytes([(f"videos/v_{n}.mp4", mp4_clip(i % 4) + pad[i:]) for i, n in enumerate(NAMES)],
                     deflate=deflate)


def _spec(**kw) -> SourceSpec:
    base = dict(kind="zip_range", repo="lmms-eval/ActivityNetQA", fallback_repos=("lmms-lab/ActivityNetQA",),
                files=("videos_chunked_06.zip",), metadata="data/test-00000-of-00001.parquet",
                columns={"video": "video_name", "question": "question", "answer": "answer", "id": "question_id",
                         "group": "video_name"},
                options={"metadata_format": "parquet", "member_template": "v_{video_name}", "member_match": "stem"})
    base.update(kw)
    return SourceSpec(**base)


def _rows():
    rows = [{"video_name": n, "question": f"what happens in {n}", "answer": "yes", "question_id": f"q{i}"}
            for i, n in enumerate(NAMES[:30])]
    rows.append({"video_name": NAMES[0], "question": "second question", "answer": "no", "question_id": "q99"})
    return rows


@pytest.mark.parametrize("deflate", [False, True])
def test_only_the_central_directory_and_chosen_members_are_read(hub_server, deflate):
    archive = _zip(deflate)
    meta = table_bytes(_rows(), "a.parquet")
    hub_server.add_repo("lmms-lab/ActivityNetQA", {"videos_chunked_06.zip": archive,
                                                   "data/test-00000-of-00001.parquet": meta})
    src = open_source(_spec(), dataset="activitynet_qa", client=HttpClient(sleep=lambda s: None))
    units = src.units()
    assert src.repo.repo == "lmms-lab/ActivityNetQA"  # lmms-eval/X is missing: fell back to lmms-lab/X
    assert len(units) == 30 and units[0].rows == 2  # members without a metadata row are not units
    chosen = [units[0], units[7], units[21]]
    cands = [c for u in chosen for c in src.read(u)]
    assert [c.fields["id"] for c in cands] == ["q0", "q99", "q7", "q21"]
    assert cands[0].media["video"].data[:len(mp4_clip(0))] == mp4_clip(0)
    assert cands[0].key.endswith("!videos/v_vid000.mp4#0") and cands[1].key.endswith("#30")
    served = hub_server.bytes_served("*/videos_chunked_06.zip")
    cd = zipfile.ZipFile(__import__("io").BytesIO(archive))
    cd_size = len(archive) - cd.infolist()[-1].header_offset  # central directory + last member, an upper bound
    assert served <= sum(u.cost_bytes for u in chosen) + cd_size + 4 * 64 * 1024
    assert served < 0.15 * len(archive)


def test_zip_at_a_plain_url_with_metadata_url(hub_server):
    url = hub_server.add_file("charades/Charades_v1_480.zip", zip_bytes([("Charades_v1_480/AB12.mp4", mp4_clip(1)),
                                                                         ("Charades_v1_480/CD34.mp4", mp4_clip(2))]))
    meta = hub_server.add_file("charades/Charades_v1_test.csv",
                               table_bytes([{"id": "CD34", "script": "a person opens a door"}], "x.csv"))
    spec = SourceSpec(kind="zip_range", url=url, metadata=meta, columns={"video": "id", "text": "script", "id": "id"},
                      options={"metadata_format": "csv", "member_template": "{id}.mp4", "member_match": "suffix"})
    src = open_source(spec, client=HttpClient(sleep=lambda s: None))
    (unit,) = src.units()
    (cand,) = list(src.read(unit))
    assert cand.fields == {"id": "CD34", "text": "a person opens a door"}
    assert cand.media["video"].data == mp4_clip(2)


def test_not_a_zip_is_a_layout_error(hub_server):
    url = hub_server.add_file("x.zip", b"this is not a zip" * 100)
    with pytest.raises(SourceUnavailable, match="single-volume zip"):
        open_source(SourceSpec(kind="zip_range", url=url)).units()
