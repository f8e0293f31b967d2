"""AISHELL-1: ``wav/{train,dev,test}/<S>/<id>.wav`` + the corpus-wide transcript file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reap_omni.sources.local_corpora.layout import (
    FolderLayout,
    Layout,
    kaldi_map,
    rel_path,
)


def _describe_aishell(layout: Layout, root: Path, f: Path) -> dict[str, Any] | None:
    def load() -> dict[str, str]:
        hits = sorted(root.glob("transcript/aishell_transcript_v*.txt"))
        return kaldi_map(hits[-1]) if hits else {}

    texts = layout.cached("transcript", load)
    if f.stem not in texts:
        return None
    split = Path(rel_path(root, f)).parts[1]
    speaker = f.parent.name
    return {"text": texts[f.stem].replace(" ", ""), "id": f.stem, "speaker_id": speaker, "split": split,
            "group": speaker}  # fmt: skip


AISHELL1 = FolderLayout(
    name="aishell1",
    title="AISHELL-1",
    expected="transcript/aishell_transcript_v0.8.txt + wav/{train,dev,test}/<S>/<id>.wav",
    unit_globs=("wav/train/*", "wav/dev/*", "wav/test/*"),
    media_globs=("*.wav",),
    describe=_describe_aishell,
    columns={"text": "text", "id": "id", "group": "speaker_id"},
)
