"""Fixtures of the model-side tests (tests/model, tests/prune, tests/evaluate): a tiny saved Qwen3-Omni
checkpoint and tiny manifests. A plugin of tests/conftest.py; torch is imported inside the fixtures, and each
room's conftest.py skips its tests without the [prune] extra."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reap_omni.fixtures.media import make_audio, make_video


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    """Full tiny model (thinker + talker + code2wav), sharded, with its processor."""
    from reap_omni.model.tiny import save_tiny_checkpoint

    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny-omni", kind="full", seed=0)


def _write_manifest(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="session")
def manifests(tmp_path_factory) -> dict[str, Path]:
    """audio.jsonl (S1), video.jsonl (S2), mixed.jsonl (S3) over generated media, 2 rows each."""
    root = tmp_path_factory.mktemp("data")
    rows: dict[str, list[dict]] = {"audio": [], "video": [], "mixed": []}
    for i in range(2):
        a = make_audio(root / f"a{i}.wav", seconds=1.0 + 0.5 * i, fmt="wav", freq=300.0 + 200 * i, seed=i)
        v = make_video(root / f"v{i}.mp4", seconds=1.0 + i, with_audio=False, seed=i)
        m = make_video(root / f"m{i}.mp4", seconds=1.0 + i, with_audio=True, seed=10 + i)
        assert a and v and m
        rows["audio"].append({"id": f"a{i}", "modality": "audio", "audio": str(root / f"a{i}.wav"),
                              "text": f"tone number {i}"})
        rows["video"].append({"id": f"v{i}", "modality": "video", "video": str(root / f"v{i}.mp4"),
                              "text": "a moving pattern"})
        rows["mixed"].append({"id": f"m{i}", "modality": "mixed", "video": str(root / f"m{i}.mp4"),
                              "has_audio": True, "text": "a pattern with a tone"})
    return {k: _write_manifest(root / f"{k}.jsonl", v) for k, v in rows.items()}


@pytest.fixture(scope="session")
def tiny_loaded(tiny_ckpt):
    """The tiny checkpoint loaded in float32 (full model) and its processor."""
    from transformers import AutoProcessor, Qwen3OmniMoeForConditionalGeneration

    model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(tiny_ckpt, dtype="float32").eval()
    return model, AutoProcessor.from_pretrained(tiny_ckpt)


@pytest.fixture(scope="session")
def manifests3(tmp_path_factory) -> dict[str, Path]:
    """3 rows per stratum, so that 2 ranks get uneven shards (2 + 1); media of different lengths."""
    root = tmp_path_factory.mktemp("data3")
    rows: dict[str, list[dict]] = {"audio": [], "video": [], "mixed": []}
    for i in range(3):
        make_audio(root / f"a{i}.wav", seconds=1.0 + 0.5 * i, fmt="wav", freq=300.0 + 150 * i, seed=i)
        make_video(root / f"v{i}.mp4", seconds=1.0 + i, with_audio=False, seed=i)
        make_video(root / f"m{i}.mp4", seconds=1.0 + i, with_audio=True, seed=10 + i)
        rows["audio"].append({"id": f"a{i}", "modality": "audio", "audio": str(root / f"a{i}.wav"), "text": f"t{i}"})
        rows["video"].append({"id": f"v{i}", "modality": "video", "video": str(root / f"v{i}.mp4"), "text": "v"})
        rows["mixed"].append({"id": f"m{i}", "modality": "mixed", "video": str(root / f"m{i}.mp4"),
                              "has_audio": True, "text": "m"})
    out = {}
    for k, v in rows.items():
        out[k] = root / f"{k}.jsonl"
        out[k].write_text("".join(json.dumps(r) + "\n" for r in v))
    bad = root / "bad.mp4"
    bad.write_bytes(os.urandom(4096))  # exists, but no decoder reads it
    broken = [dict(r) for r in rows["video"]]
    broken[1]["video"] = str(bad)  # sample 1 -> rank 1 of 2
    out["video_bad"] = root / "video_bad.jsonl"
    out["video_bad"].write_text("".join(json.dumps(r) + "\n" for r in broken))
    return out
