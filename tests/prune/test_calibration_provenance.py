"""Scores name the rows calibration used (``meta.calibration_rows``), so ``eval --scores`` refuses them alone.

Also: rank 0 of a data-parallel run records every rank's rows, a resumed run records the same rows, and an
S3 row's extracted audio track counts as one of its media.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from model_helpers import F32, TINY_OPTS

from reap_omni.cli import run
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.manifest.lock import file_sha256
from reap_omni.model.distributed import Dist
from reap_omni.model.inputs import load_samples
from reap_omni.prune.calibration import CalibrationSettings, calibrate, calibration_rows
from reap_omni.prune.scores import load_scores

FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _samples(manifests) -> dict:
    return {s: load_samples(manifests[f], s, 100) for s, f in FILES.items()}


class _RankZeroOfTwo(Dist):
    """Rank 0 of 2 without a process group: it runs its shard, the "all-reduce" is its own sums."""

    def __init__(self) -> None:
        super().__init__(rank=0, world_size=2)

    def check(self, error: BaseException | None, what: str) -> None:
        if error is not None:
            raise error

    def all_reduce_sum(self, tensors):
        return list(tensors)


@pytest.fixture(scope="module")
def pruned(tiny_ckpt, manifests, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prov") / "pruned"
    argv = ["prune", "--model-path", str(tiny_ckpt), "--output-path", str(out), "--audio-data",
            str(manifests["audio"]), "--video-data", str(manifests["video"]), "--mixed-data", str(manifests["mixed"]),
            "--dtype", "float32", "--video-max-pixels", "4096", "--quiet"]
    assert run(argv) == 0
    return out


@pytest.fixture(scope="module")
def heldout(tmp_path_factory) -> dict[str, Path]:
    """One row per stratum that calibration never saw."""
    root = tmp_path_factory.mktemp("prov-heldout")
    make_audio(root / "h.wav", seconds=0.8, fmt="wav", freq=700.0, seed=51)
    make_video(root / "hv.mp4", seconds=1.0, with_audio=False, seed=52)
    make_video(root / "hm.mp4", seconds=1.0, with_audio=True, seed=53)
    return {
        "audio": _write(root / "audio.jsonl", [{"id": "h0", "modality": "audio", "audio": str(root / "h.wav"),
                                                "text": "held out"}]),
        "video": _write(root / "video.jsonl", [{"id": "hv0", "modality": "video", "video": str(root / "hv.mp4"),
                                                "text": "v"}]),
        "mixed": _write(root / "mixed.jsonl", [{"id": "hm0", "modality": "mixed", "video": str(root / "hm.mp4"),
                                                "has_audio": True, "text": "m"}]),
        "root": root,
    }


def _eval(tiny_ckpt, pruned, data, out, audio=None) -> int:
    return run(["eval", "--model", str(tiny_ckpt), "--scores", str(pruned), "--methods", "reap-omni",
                "--audio-data", str(audio or data["audio"]), "--video-data", str(data["video"]),
                "--mixed-data", str(data["mixed"]), "--samples", "3", "--max-new-tokens", "0",
                "--video-max-pixels", "4096", "--dtype", "float32", "--output", str(out), "--quiet"])


def test_prune_records_every_row_and_its_media_digests(pruned, manifests):
    rows = load_scores(pruned).meta["calibration_rows"]
    assert set(rows) == {"S1", "S2", "S3"}
    for s, f in FILES.items():
        want = [(x.id, file_sha256(x.audio or x.video)) for x in load_samples(manifests[f], s, 100)]
        assert [(r["id"], next(iter(r["sha256"].values()))) for r in rows[s]] == want
    assert list(rows["S1"][0]["sha256"]) == ["audio"] and list(rows["S3"][0]["sha256"]) == ["video"]


def test_eval_refuses_a_calibration_row_without_a_lock(tiny_ckpt, pruned, manifests, heldout, tmp_path, capsys):
    cal = json.loads(manifests["audio"].read_text().splitlines()[0])
    copy = heldout["root"] / "renamed.wav"
    shutil.copyfile(cal["audio"], copy)
    cases = {"by-id": dict(cal), "by-sha": dict(cal, id="renamed", audio=str(copy))}
    held = json.loads(heldout["audio"].read_text())
    for name, row in cases.items():
        audio = _write(tmp_path / f"{name}.jsonl", [held, row])
        out = tmp_path / name
        code = _eval(tiny_ckpt, pruned, heldout, out, audio)
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert "1 of 4 evaluation rows are calibration rows of the scores' provenance" in err
        assert ("a0 (id" if name == "by-id" else "renamed (media sha256") in err
        assert not (out / "eval.json").exists()
    out = tmp_path / "held"
    assert _eval(tiny_ckpt, pruned, heldout, out) == 0
    doc = json.loads((out / "eval.json").read_text())
    assert doc["meta"]["held_out"]["checked_against"] == ["the scores' provenance"]
    assert doc["strata"]["S1"]["original"]["rows"] == 1


def test_mixed_rows_record_their_extracted_track(tmp_path):
    make_video(tmp_path / "m.mp4", seconds=1.0, with_audio=True, seed=61)
    make_audio(tmp_path / "m.wav", seconds=1.0, fmt="wav", freq=500.0, seed=62)
    path = _write(tmp_path / "mixed.jsonl", [{"id": "m", "modality": "mixed", "video": "m.mp4", "audio": "m.wav",
                                              "has_audio": True, "text": "t"}])
    rows = calibration_rows({"S3": load_samples(path, "S3", 10)})
    assert rows == {"S3": [{"id": "m", "sha256": {"audio": file_sha256(tmp_path / "m.wav"),
                                                  "video": file_sha256(tmp_path / "m.mp4")}}]}


def test_rank_zero_and_resumed_runs_record_all_rows(tiny_ckpt, manifests3, tmp_path):
    samples = _samples(manifests3)
    want = calibration_rows(samples)
    assert [r["id"] for r in want["S1"]] == ["a0", "a1", "a2"]
    settings = CalibrationSettings(model_path=str(tiny_ckpt), placement=F32, inputs=TINY_OPTS,
                                   checkpoint_dir=str(tmp_path / "ck"), checkpoint_every=1)
    dist = _RankZeroOfTwo()
    first, _ = calibrate(settings, samples, lambda m: None, dist)
    assert first.meta["calibration_rows"] == want  # rank 0 ran samples 0 and 2 only
    logs: list[str] = []
    resumed, _ = calibrate(settings, samples, logs.append, dist)
    assert any("resuming calibration" in m for m in logs)
    assert resumed.meta["calibration_rows"] == want
