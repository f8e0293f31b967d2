"""HowTo100M: videos + ``caption.json``; one clip per video, a window over its narration captions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    Layout,
    Row,
    rel_path,
    video_index,
)


def caption_window(captions: dict[str, Any], window_s: float) -> dict[str, Any]:
    """HowTo100M: a ``window_s`` window from the first caption, with the text of the captions overlapping it."""
    starts, ends, texts = captions.get("start", []), captions.get("end", []), captions.get("text", [])
    w0 = float(starts[0]) if starts else 0.0
    w1 = w0 + window_s
    parts = [str(t).strip() for s, e, t in zip(starts, ends, texts, strict=False) if float(e) > w0 and float(s) < w1]
    w1 = min(w1, max((float(e) for e in ends), default=w1))
    return {"text": " ".join(p for p in parts if p), "start": w0, "end": w1}


class HowTo100MLayout(Layout):
    """HowTo100M: videos ``<video_id>.<ext>`` + ``caption.json`` {id: {start[], end[], text[]}}; one clip per video.

    The clip window (``options.window_s``, default 30 s) starts at the first caption; its text joins the
    captions overlapping the window.
    """

    name = "howto100m"
    title = "HowTo100M"
    expected = "<video_id>.mp4 files + caption.json ({video_id: {start: [], end: [], text: []}})"
    columns = {"text": "text", "id": "video_id", "group": "video_id", "start": "start", "end": "end"}

    def _captions(self, root: Path) -> dict[str, Any]:
        def load() -> dict[str, Any]:
            hits = [root / "caption.json"] if (root / "caption.json").is_file() else sorted(root.rglob("caption.json"))
            if not hits:
                return {}
            with open(hits[0], encoding="utf-8") as f:
                return json.load(f)

        return self.cached("captions", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        captions = self._captions(root)
        videos = self.cached("videos", lambda: video_index(root))
        return [Unit(key=v, shard=rel_path(root, videos[v]), rows=1, info={"video_id": v})
                for v in sorted(captions) if v in videos and captions[v].get("text")]  # fmt: skip

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        vid = unit.info["video_id"]
        cap = self._captions(root)[vid]
        raw = {"video_id": vid, **caption_window(cap, float(options.get("window_s", 30)))}
        media = self.cached("videos", lambda: video_index(root))[vid]
        yield Row(key=vid, raw=raw, media=media, group=vid)
