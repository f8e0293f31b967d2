"""Fixtures of the healing tests: a tiny original Qwen3-Omni, its pruned copy, and rows of every stratum."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from reap_omni.fixtures.media import make_audio, make_video  # noqa: E402

#: kept experts per layer of the pruned copy (retention 0.5 of 8)
KEPT = {0: [0, 2, 5, 7], 1: [1, 2, 3, 6], 2: [3, 4, 5, 6], 3: [0, 1, 4, 7]}


@pytest.fixture(scope="session")
def heal_models(tmp_path_factory) -> tuple[Path, Path]:
    """(original, pruned): the full tiny model (thinker + talker + code2wav) and its copy pruned to ``KEPT``."""
    from reap_omni.model.tiny import save_tiny_checkpoint
    from reap_omni.prune.surgery import prune_checkpoint

    root = tmp_path_factory.mktemp("heal-models")
    original = save_tiny_checkpoint(root / "tiny-omni", kind="full", seed=0)
    prune_checkpoint(original, root / "tiny-omni-pruned", "thinker", KEPT)
    return original, root / "tiny-omni-pruned"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def heal_rows(tmp_path_factory) -> dict[str, Path]:
    """audio.jsonl, video.jsonl, mixed.jsonl (2 rows each, generated media) and text.jsonl (questions)."""
    root = tmp_path_factory.mktemp("heal-rows")
    rows: dict[str, list[dict]] = {"audio": [], "video": [], "mixed": [], "text": []}
    for i in range(2):
        make_audio(root / f"a{i}.wav", seconds=1.0, fmt="wav", freq=300.0 + 200 * i, seed=i)
        make_video(root / f"v{i}.mp4", seconds=1.0, with_audio=False, seed=i)
        make_video(root / f"m{i}.mp4", seconds=1.0, with_audio=True, seed=10 + i)
        rows["audio"].append({"id": f"a{i}", "modality": "audio", "audio": f"a{i}.wav", "text": f"tone {i}",
                              "task": "asr"})
        rows["video"].append({"id": f"v{i}", "modality": "video", "video": str(root / f"v{i}.mp4"),
                              "text": "a moving pattern", "task": "caption"})
        rows["mixed"].append({"id": f"m{i}", "modality": "mixed", "video": str(root / f"m{i}.mp4"),
                              "has_audio": True, "text": "a pattern with a tone", "task": "caption"})
        rows["text"].append({"id": f"t{i}", "modality": "text", "text": f"answer {i}",
                             "meta": {"question": f"what is {i} plus {i}?"}})
    return {k: write_jsonl(root / f"{k}.jsonl", v) for k, v in rows.items()}
