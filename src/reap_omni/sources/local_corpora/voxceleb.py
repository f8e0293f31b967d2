"""VoxCeleb1/2: ``wav|mp4|aac/<speaker>/<youtube_id>/<NNNNN>.<ext>``; no text, speakers are the groups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reap_omni.sources.local_corpora.layout import (
    FolderLayout,
    Layout,
)


def _describe_voxceleb(layout: Layout, root: Path, f: Path) -> dict[str, Any]:
    speaker, video = f.parent.parent.name, f.parent.name
    return {"speaker_id": speaker, "video_id": video, "id": f"{speaker}/{video}/{f.stem}", "group": speaker}


VOXCELEB = FolderLayout(
    name="voxceleb",
    title="VoxCeleb1/2",
    expected="wav/<speaker>/<youtube_id>/<NNNNN>.wav (VoxCeleb1) or [dev/|test/]mp4/<speaker>/<youtube_id>/<NNNNN>.mp4",
    unit_globs=("wav/*", "mp4/*", "dev/mp4/*", "test/mp4/*", "aac/*", "dev/aac/*", "test/aac/*"),
    media_globs=("*/*.wav", "*/*.mp4", "*/*.m4a"),
    describe=_describe_voxceleb,
    columns={"id": "id", "group": "speaker_id"},
)
