"""Resumable calibration: checkpoints, kill -9 mid-stratum then rerun equals an uninterrupted run; progress."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from model_helpers import F32, TINY_OPTS, launch_env

from reap_omni.model.inputs import load_samples
from reap_omni.prune.calibration import CalibrationSettings, calibrate
from reap_omni.prune.checkpoint import CalibrationCheckpoint, StratumState, calibration_key
from reap_omni.prune.progress import StratumProgress, progress_enabled
from reap_omni.prune.scores import STRATA, load_scores

FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


def _samples(manifests) -> dict:
    return {s: load_samples(manifests[f], s, 100) for s, f in FILES.items()}


def _settings(tiny_ckpt, folder=None, every=1) -> CalibrationSettings:
    return CalibrationSettings(model_path=str(tiny_ckpt), placement=F32, inputs=TINY_OPTS,
                               checkpoint_dir=str(folder) if folder else None, checkpoint_every=every)


def _assert_identical(a, b):
    for s in STRATA:
        assert torch.equal(a.strata[s].sums, b.strata[s].sums), s
        assert torch.equal(a.strata[s].counts, b.strata[s].counts), s
        assert torch.equal(a.strata[s].tokens, b.strata[s].tokens), s


def test_checkpoint_roundtrip_and_other_inputs_are_not_resumed(tmp_path):
    st = StratumState(torch.rand(2, 4, dtype=torch.float64), torch.arange(8).reshape(2, 4), torch.tensor([5, 5]),
                      ["a", "b"], False)
    ck = CalibrationCheckpoint(tmp_path / "c", "key-1")
    ck.save({"S1": st})
    back = CalibrationCheckpoint(tmp_path / "c", "key-1").load()
    assert back["S1"].done == ["a", "b"] and not back["S1"].complete and torch.equal(back["S1"].sums, st.sums)
    other = CalibrationCheckpoint(tmp_path / "c", "key-2")
    assert other.load() is None and other.stale
    (tmp_path / "c" / "rank0-of-1.safetensors").write_bytes(b"truncated")
    assert CalibrationCheckpoint(tmp_path / "c", "key-1").load() is None
    ck.remove()
    assert not (tmp_path / "c").exists()


def test_key_follows_inputs_and_options(tiny_ckpt, manifests3):
    samples = _samples(manifests3)
    k = calibration_key(tiny_ckpt, samples, {"batch_size": 1}, 0, 1)
    assert k == calibration_key(tiny_ckpt, samples, {"batch_size": 1}, 0, 1)
    assert k != calibration_key(tiny_ckpt, samples, {"batch_size": 2}, 0, 1)
    assert k != calibration_key(tiny_ckpt, samples, {"batch_size": 1}, 1, 2)
    fewer = dict(samples, S2=samples["S2"][:2])
    assert k != calibration_key(tiny_ckpt, fewer, {"batch_size": 1}, 0, 1)


def test_crash_mid_stratum_then_resume_equals_uninterrupted(tiny_ckpt, manifests3, tmp_path, monkeypatch):
    """In process: a run that dies after the 2nd batch of S2 leaves a checkpoint; the rerun resumes from
    it (S1 not recomputed, S2 from its 3rd sample) and gives the uninterrupted statistics bit for bit."""
    import reap_omni.prune.calibration as cal

    samples = _samples(manifests3)
    want, _ = calibrate(_settings(tiny_ckpt), samples, lambda m: None)

    real = cal.iter_batches
    ran: list[str] = []

    def dying(processor, shard, stratum, *a, **kw):
        for i, item in enumerate(real(processor, shard, stratum, *a, **kw)):
            if stratum == "S2" and i == 2:
                raise RuntimeError("simulated crash")
            ran.append(stratum)
            yield item

    monkeypatch.setattr(cal, "iter_batches", dying)
    folder = tmp_path / "ckpt"
    with pytest.raises(RuntimeError, match="simulated crash"):
        calibrate(_settings(tiny_ckpt, folder), samples, lambda m: None)
    assert ran == ["S1"] * 3 + ["S2"] * 2
    def counting(processor, shard, stratum, *a, **kw):
        ran.append(stratum)
        yield from real(processor, shard, stratum, *a, **kw)

    monkeypatch.setattr(cal, "iter_batches", counting)
    ran.clear()
    logs: list[str] = []
    got, _ = calibrate(_settings(tiny_ckpt, folder), samples, logs.append)
    assert any("resuming calibration" in m and "S1 complete" in m and "S2 2 samples" in m for m in logs), logs
    assert ran == ["S2", "S3"]  # S1 restored whole; S2 continued
    _assert_identical(got, want)


def _cli(tiny_ckpt, m, scores: Path) -> list[str]:
    return [sys.executable, "-m", "reap_omni", "prune", "--model-path", str(tiny_ckpt), "--audio-data",
            str(m["audio"]), "--video-data", str(m["video"]), "--mixed-data", str(m["mixed"]), "--dry-run",
            "--dtype", "float32", "--video-max-pixels", "4096", "--scores-out", str(scores),
            "--checkpoint-every", "1"]



def _partial(state_file: Path) -> bool:
    """True once the checkpoint shows a stratum started but not finished."""
    from safetensors import safe_open

    try:
        with safe_open(str(state_file), framework="pt") as f:
            progress = json.loads((f.metadata() or {}).get("progress", "{}"))
    except Exception:  # noqa: BLE001 - not there yet
        return False
    return any(p["done"] and not p["complete"] for p in progress.values())


def test_kill_9_mid_stratum_then_rerun_equals_uninterrupted(tiny_ckpt, manifests3, tmp_path):
    whole = tmp_path / "whole" / "scores.json"
    p = subprocess.run(_cli(tiny_ckpt, manifests3, whole), capture_output=True, text=True, env=launch_env(),
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    assert not (tmp_path / "whole" / "scores.calibration").exists(), "a finished run removes its checkpoint"

    for attempt in range(4):  # the window is a few tens of ms per sample: retry if the run outpaced us
        out = tmp_path / f"killed{attempt}" / "scores.json"
        state = out.with_name("scores.calibration") / "rank0-of-1.safetensors"
        proc = subprocess.Popen(_cli(tiny_ckpt, manifests3, out), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, env=launch_env())
        killed = False
        while proc.poll() is None:
            if _partial(state):
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        proc.wait(timeout=60)
        if killed:
            break
    assert killed, "never caught the run mid-stratum"
    assert proc.returncode == -signal.SIGKILL and not out.exists() and state.is_file()

    again = subprocess.run(_cli(tiny_ckpt, manifests3, out), capture_output=True, text=True, env=launch_env(),
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming calibration from" in again.stderr
    _assert_identical(load_scores(out), load_scores(whole))
    assert json.loads(out.read_text())["kept"] == json.loads(whole.read_text())["kept"]
    assert not state.parent.exists()


def test_progress_bar_shows_samples_rates_and_is_off_without_a_terminal():
    buf = io.StringIO()
    with StratumProgress("S1", 3, 1, enabled=True, file=buf, label=" (rank 0 of 2)") as bar:
        bar.update(2, 300, 4.0)
    text = buf.getvalue()
    assert "S1 (rank 0 of 2)" in text and "3/3" in text and "tok/s" in text and "media s/s" in text
    assert not progress_enabled(False, io.StringIO())  # not a TTY

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert progress_enabled(False, Tty()) and not progress_enabled(True, Tty())
    silent = StratumProgress("S1", 3, enabled=False)
    silent.update(1, 1, 1.0)
    silent.close()
