"""Loose files on a branch plus JSON annotations on main (MVBench layout), and the kind dispatcher."""

from __future__ import annotations

import json

import pytest

from reap_omni.catalog.spec import SourceSpec
from reap_omni.fixtures.repos import mp4_clip
from reap_omni.sources.base import SourceUnavailable
from reap_omni.sources.factory import open_source
from reap_omni.sources.hub_files import HubFilesSource


def test_mvbench_style_branch_files_with_main_annotations(hub_server):
    items = [{"video": f"{v}.mp4", "question": f"q{v}", "candidates": ["a", "b"], "answer": "a"} for v in "XYZ"]
    hub_server.add_repo("OpenGVLab/MVBench", {"json/action_sequence.json": json.dumps(items).encode()})
    hub_server.add_repo("OpenGVLab/MVBench", {f"star/Charades_segment/{v}.mp4": mp4_clip(i) for i, v in
                                              enumerate("XYW")}, revision="video")
    spec = SourceSpec(kind="hf_files", repo="OpenGVLab/MVBench", revision="video", files=("star/Charades_segment/*",),
                      metadata="json/action_sequence.json",
                      columns={"video": "video", "question": "question", "options": "candidates", "answer": "answer"},
                      options={"metadata_format": "json", "metadata_revision": "main", "member_match": "suffix"})
    src = open_source(spec, dataset="mvbench")
    assert isinstance(src, HubFilesSource)
    units = src.units()
    assert [u.key for u in units] == ["star/Charades_segment/X.mp4", "star/Charades_segment/Y.mp4"]
    hub_server.reset_counters()
    (cand,) = list(src.read(units[1]))
    assert cand.fields["question"] == "qY" and cand.fields["options"] == ["a", "b"]
    assert cand.media["video"].data == mp4_clip(1)
    assert hub_server.total_bytes == len(mp4_clip(1))


def test_unknown_kind_is_reported():
    with pytest.raises(SourceUnavailable, match="unknown source kind 'ftp'"):
        open_source(SourceSpec(kind="ftp"), dataset="demo")  # type: ignore[arg-type]
