"""LibriSpeech: ``<part>/<speaker>/<chapter>/*.flac`` + one ``.trans.txt`` per chapter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reap_omni.sources.local_corpora.layout import (
    FolderLayout,
    Layout,
    kaldi_map,
)


def _describe_librispeech(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
    speaker, chapter = f.parent.parent.name, f.parent.name
    trans = f.parent / f"{speaker}-{chapter}.trans.txt"
    texts = layout.cached(trans, lambda: kaldi_map(trans) if trans.is_file() else {})
    if f.stem not in texts:
        return None
    return {"text": texts[f.stem], "id": f.stem, "speaker_id": speaker, "chapter_id": chapter, "group": speaker}


LIBRISPEECH = FolderLayout(
    name="librispeech",
    title="LibriSpeech",
    expected="<part>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac + <speaker>-<chapter>.trans.txt",
    unit_globs=("*/*/*",),
    media_globs=("*.flac",),
    describe=_describe_librispeech,
    columns={"text": "text", "id": "id", "group": "speaker_id"},
)
