"""LRS2 / LRS3 (BBC and TED lip-reading sentences): ``<part>/<video>/<NNNNN>.mp4`` + a ``.txt`` header."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reap_omni.sources.local_corpora.layout import (
    FolderLayout,
    Layout,
    colon_fields,
    rel_path,
)


def _describe_lrs(group_key: str) -> Callable[[Layout, Path, Path], dict[str, Any] | None]:
    def describe(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
        txt = f.with_suffix(".txt")
        if not txt.is_file():
            return None
        raw: dict[str, Any] = dict(colon_fields(txt))
        rel = Path(rel_path(root, f))
        raw.update({group_key: rel.parent.name, "part": rel.parts[0], "id": rel.with_suffix("").as_posix()})
        raw["group"] = raw[group_key]
        return raw if raw.get("Text") else None

    return describe


LRS2 = FolderLayout(
    name="lrs2",
    title="LRS2",
    expected="main/<video_id>/<NNNNN>.mp4 + <NNNNN>.txt (or pretrain/...)",
    unit_globs=("main/*", "pretrain/*"),
    media_globs=("*.mp4",),
    describe=_describe_lrs("video_id"),
    columns={"text": "Text", "id": "id", "group": "video_id"},
)
LRS3 = FolderLayout(
    name="lrs3",
    title="LRS3",
    expected="{pretrain,trainval,test}/<youtube_id>/<NNNNN>.mp4 + <NNNNN>.txt",
    unit_globs=("pretrain/*", "trainval/*", "test/*"),
    media_globs=("*.mp4",),
    describe=_describe_lrs("youtube_id"),
    columns={"text": "Text", "id": "id", "group": "youtube_id"},
)
