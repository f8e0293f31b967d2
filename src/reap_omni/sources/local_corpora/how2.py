"""How2: videos + Kaldi ``text.en`` (+ ``segments``), one unit per video."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reap_omni.sources.base import Unit
from reap_omni.sources.local_corpora.layout import (
    Layout,
    Row,
    kaldi_map,
    rel_path,
    video_index,
)


class How2Layout(Layout):
    """How2: videos ``<video_id>.<ext>`` + Kaldi ``text.en`` (+ ``segments``: utt video start end); unit per video."""

    name = "how2"
    title = "How2"
    expected = "<video_id>.mp4 files + text.en ('<utt_id> <words>'), optional segments ('<utt_id> <video_id> <s> <e>')"
    columns = {"text": "text", "id": "id", "group": "video_id", "start": "start", "end": "end"}

    def _utts(self, root: Path) -> dict[str, list[dict[str, Any]]]:
        def load() -> dict[str, list[dict[str, Any]]]:
            by_video: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for text_file in sorted(root.rglob("text.en")):
                segments = text_file.parent / "segments"
                segs = kaldi_map(segments) if segments.is_file() else {}
                for utt, text in kaldi_map(text_file).items():
                    raw: dict[str, Any] = {"id": utt, "text": text}
                    if utt in segs:
                        video, start, end = segs[utt].split()[:3]
                        raw.update(video_id=video, start=float(start), end=float(end))
                    else:
                        raw["video_id"] = utt.rsplit("_", 1)[0]
                    by_video[raw["video_id"]].append(raw)
            return by_video

        return self.cached("utts", load)

    def units(self, root: Path, options: dict[str, Any]) -> list[Unit]:
        videos = self.cached("videos", lambda: video_index(root))
        return [Unit(key=v, shard=rel_path(root, videos[v]), rows=len(u), info={"video_id": v})
                for v, u in sorted(self._utts(root).items()) if v in videos]  # fmt: skip

    def rows(self, root: Path, unit: Unit, options: dict[str, Any]) -> Iterator[Row]:
        video = self.cached("videos", lambda: video_index(root))[unit.info["video_id"]]
        for raw in self._utts(root)[unit.info["video_id"]]:
            yield Row(key=raw["id"], raw=raw, media=video, group=raw["video_id"])
