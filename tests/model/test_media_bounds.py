"""Media are decoded only as far as --max-seq-len can use them, frames at the processor's size, and rows of
the wrong modality are refused or warned about (issue 16, item 5)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from model_helpers import TINY_OPTS

from reap_omni.cli.model_args import input_options
from reap_omni.errors import InputError, ReapOmniError
from reap_omni.evaluate.rows import load_rows
from reap_omni.fixtures.media import make_audio, make_silence, make_video
from reap_omni.model import inputs as inputs_mod
from reap_omni.model import media_load
from reap_omni.model.inputs import InputOptions, Sample, build_inputs, fit_sample, load_samples
from reap_omni.model.media_window import VideoGeometry, _default_size, audio_seconds_cap
from reap_omni.model.tiny import build_tiny_processor

#: one uint8 step after the processor's rescale and CLIP normalisation (smallest std 0.2686)
UINT8_STEP = 1 / 255 / 0.2686


@pytest.fixture(scope="module")
def processor():
    return build_tiny_processor()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bounds")
    out = {
        "silence": root / "silence.flac",  # 10 minutes: what a long row costs, without the wait
        "tone": root / "tone.wav",
        "short": root / "short.wav",
        "long_video": root / "long.mp4",
        "hd": root / "hd.mp4",
        "clip": root / "clip.mp4",
    }
    make_silence(out["silence"], seconds=600)
    make_audio(out["tone"], seconds=20, sample_rate=44100, fmt="wav", freq=440.0)
    make_audio(out["short"], seconds=1.5, sample_rate=22050, fmt="wav", freq=300.0, seed=3)
    make_video(out["long_video"], seconds=120, fps=5, with_audio=True)
    make_video(out["hd"], seconds=2, fps=10, width=640, height=360, with_audio=False)
    make_video(out["clip"], seconds=2.5, fps=10, with_audio=True, seed=4)
    return out


@pytest.fixture
def decoded(monkeypatch) -> dict[str, int]:
    """Counts what the decoder produced: video frames and audio samples (at the source rate)."""
    seen = {"frames": 0, "samples": 0}
    real = media_load._decoded

    def counting(container, stream):
        for frame in real(container, stream):
            if isinstance(frame, av.VideoFrame):
                seen["frames"] += 1
            else:
                seen["samples"] += frame.samples
            yield frame

    monkeypatch.setattr(media_load, "_decoded", counting)
    return seen


def _full_audio(path: Path) -> np.ndarray:
    """A straightforward whole-file decode (the pre-window code path) to compare against."""
    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=16000)
        parts = [o.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0]) for o in rs.resample(f)]
        parts += [o.to_ndarray().reshape(-1) for o in rs.resample(None)]
    return np.concatenate(parts)


def _full_frames(path: Path, fps: float = 2.0) -> np.ndarray:
    frames, next_t = [], 0.0
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            if float(f.time) + 1e-6 >= next_t:
                frames.append(f.to_ndarray(format="rgb24"))
                next_t += 1.0 / fps
    while len(frames) % 2:
        frames.append(frames[-1])
    return np.stack(frames)


# -- decoding stops at the window ------------------------------------------------------------------------

def test_audio_decoding_stops_at_the_window(media, decoded):
    wave = media_load.load_audio(media["silence"], max_seconds=2.0)
    assert wave.size == 32000
    # FLAC frames of 4096 samples: the decoder stopped within one frame of the 2 s, not at 600 s
    assert decoded["samples"] <= 2 * 16000 + 4096


def test_a_cut_waveform_is_the_start_of_the_whole_one(media, decoded):
    part = media_load.load_audio(media["tone"], max_seconds=3.0)
    assert decoded["samples"] <= 3 * 44100 + 4096
    np.testing.assert_allclose(part, _full_audio(media["tone"])[:48000], rtol=0, atol=1e-6)


def test_video_decoding_stops_at_the_window(media, decoded):
    frames = media_load.load_video_frames(media["long_video"], fps=2.0, max_seconds=2.0)
    assert len(frames) == 4  # t = 0, 0.5, 1.0, 1.5
    assert decoded["frames"] <= 2 * 5 + 4  # 5 fps source: the window plus the decoder's lookahead, not 600
    np.testing.assert_array_equal(frames, _full_frames(media["long_video"])[:4])


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
@pytest.mark.parametrize("max_seq_len", [256, 1024])
def test_a_long_row_fits_in_one_attempt_and_decodes_only_its_window(processor, media, decoded, monkeypatch,
                                                                    stratum, max_seq_len):
    path = media["silence"] if stratum == "S1" else media["long_video"]
    sample = Sample("x", "a short answer", path if stratum == "S1" else None,
                    None if stratum == "S1" else path, "m.jsonl:1")
    opts = InputOptions(video_fps=2.0, video_size=TINY_OPTS.video_size, max_seq_len=max_seq_len)
    attempts = []
    real = inputs_mod.build_inputs
    monkeypatch.setattr(inputs_mod, "build_inputs", lambda *a, **k: attempts.append(a[4]) or real(*a, **k))
    out = fit_sample(processor, sample, stratum, opts)
    length = int(out["input_ids"].shape[1])
    assert len(attempts) == 1, attempts
    seconds = attempts[0]
    assert length <= max_seq_len
    if stratum == "S1":
        assert decoded["samples"] <= seconds * 16000 + 4096  # the 600 s file: only the window
    else:
        assert decoded["frames"] <= seconds * 5 + 4  # the 120 s video at 5 fps: only the window
    kept = audio_seconds_cap(processor)  # transformers 4.x: the processor keeps 30 s of a clip's sound
    if stratum == "S3":  # and its 44.1 kHz track, in AAC frames of 1024 samples
        assert decoded["samples"] <= min(seconds, kept or seconds) * 44100 + 2048
    if stratum == "S1" and kept is not None and seconds == kept:
        return  # all the processor keeps
    # the window is the longest that fits: a second more media would not have
    assert seconds + 1.0 < (600 if stratum == "S1" else 120)
    assert fit_sample_at(processor, sample, stratum, opts, seconds + 1.0) > max_seq_len


def fit_sample_at(processor, sample, stratum, opts, seconds: float) -> int:
    return int(build_inputs(processor, [sample], stratum, opts, seconds)["input_ids"].shape[1])


def test_max_media_seconds_caps_a_row_that_would_fit(processor, media, decoded):
    sample = Sample("x", "t", media["silence"], None, "m.jsonl:1")
    opts = InputOptions(max_seq_len=100_000, max_media_seconds=5.0)
    out = fit_sample(processor, sample, "S1", opts)
    assert int(out["feature_attention_mask"].sum()) == 499  # 4.995 s of 10 ms frames
    assert decoded["samples"] <= 5 * 16000 + 4096


def test_sound_the_processor_would_drop_is_not_decoded(processor, media, decoded):
    """Without --max-seq-len or --max-media-seconds limits, a clip's sound still ends where the processor's does."""
    sample = Sample("x", "t", media["silence"], None, "m.jsonl:1")
    out = fit_sample(processor, sample, "S1", InputOptions(max_seq_len=100_000, max_media_seconds=None))
    kept = audio_seconds_cap(processor)
    frames = int(out["feature_attention_mask"].sum())
    if kept is None:  # transformers 5.x keeps all of it: the token window (~770 s at 100k) is past the file
        assert frames == 600 * 100
    else:
        assert frames == round(kept * 100)
        assert decoded["samples"] <= kept * 16000 + 4096


# -- frames at the processor's size ----------------------------------------------------------------------

@pytest.mark.parametrize("size", ["tiny", "default"])
def test_frames_come_out_no_larger_than_the_processor_keeps(processor, media, size):
    video_size = TINY_OPTS.video_size if size == "tiny" else None
    geometry = VideoGeometry.of(processor, video_size)
    frames = media_load.load_video_frames(media["hd"], 2.0, None, geometry.temporal, geometry.shrink)
    pixels = frames.shape[1] * frames.shape[2]
    assert pixels < 640 * 360
    if geometry.min_pixels < geometry.max_pixels:
        assert pixels <= geometry.max_pixels
    else:  # equal limits: about twice the target's side, which the processor still takes to its target
        assert pixels <= 16 * geometry.max_pixels
    # the processor sees what it saw from the full-size frames
    opts = InputOptions(video_size=video_size, max_seq_len=100_000)
    sample = Sample("x", "t", None, media["hd"], "m.jsonl:1")
    new = build_inputs(processor, [sample], "S2", opts)
    old = _processed_full(processor, sample, opts, _full_frames(media["hd"]))
    assert torch.equal(new["video_grid_thw"], old["video_grid_thw"])
    assert torch.equal(new["input_ids"], old["input_ids"])
    if geometry.min_pixels < geometry.max_pixels:  # the same resize, done earlier
        torch.testing.assert_close(new["pixel_values_videos"], old["pixel_values_videos"], rtol=0,
                                   atol=UINT8_STEP * 1.01)


def _processed_full(processor, sample: Sample, opts: InputOptions, frames: np.ndarray) -> dict:
    """What the processor made of the whole-size frames (the path before frames were shrunk)."""
    real = inputs_mod.load_video_frames
    inputs_mod.load_video_frames = lambda *a, **k: frames
    try:
        return build_inputs(processor, [sample], "S2", opts, max_seconds=1000.0)
    finally:
        inputs_mod.load_video_frames = real


def test_default_size_is_the_one_the_processor_applies(processor, media):
    """Without --video-max-pixels the processor's own defaults win over its video processor's size."""
    size = _default_size(processor)
    frames = _full_frames(media["hd"])
    out = processor(text=["<|vision_start|><|video_pad|><|vision_end|>"], videos=[frames],
                    videos_kwargs={"fps": 2.0, "do_sample_frames": False}, return_tensors="pt")
    geometry = VideoGeometry.of(processor, None)
    h, w = geometry.frame_size(360, 640)
    assert out["video_grid_thw"][0, 1:].tolist() == [h // geometry.patch, w // geometry.patch]
    assert geometry.max_pixels == int(size.get("longest_edge") or size["max_pixels"])

    class Wrapper:  # as eval's instruction swap holds the processor
        def __init__(self, p):
            self._processor = p

        def __getattr__(self, name):
            return getattr(self._processor, name)

    assert _default_size(Wrapper(processor)) == size


# -- short clips are decoded as before -------------------------------------------------------------------

def test_a_short_clip_is_decoded_as_a_full_decode_would(processor, media):
    opts = TINY_OPTS
    geometry = VideoGeometry.of(processor, opts.video_size)
    frames = media_load.load_video_frames(media["clip"], 2.0, 1000.0, geometry.temporal, geometry.shrink)
    np.testing.assert_array_equal(frames, _full_frames(media["clip"]))
    np.testing.assert_allclose(media_load.load_audio(media["short"], 1000.0), _full_audio(media["short"]),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(media_load.load_audio(media["clip"], 1000.0), _full_audio(media["clip"]),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_short_rows_go_through_the_processor_whole(processor, media, stratum):
    path = media["short"] if stratum == "S1" else media["clip"]
    sample = Sample("x", "text", path if stratum == "S1" else None, None if stratum == "S1" else path, "m:1")
    bounded = fit_sample(processor, sample, stratum, TINY_OPTS)
    whole = build_inputs(processor, [sample], stratum, TINY_OPTS, max_seconds=1e6)
    assert bounded.keys() == whole.keys()
    for key, value in whole.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            torch.testing.assert_close(bounded[key], value, rtol=0, atol=0)  # same decode, same processor
        elif isinstance(value, torch.Tensor):
            assert torch.equal(bounded[key], value), key


# -- rows of another modality ----------------------------------------------------------------------------

def _manifest(tmp_path: Path, media: dict[str, Path], rows: list[dict]) -> Path:
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(i: int, modality: str, media: dict[str, Path], with_audio: bool = True) -> dict:
    row: dict = {"id": f"r{i}", "modality": modality, "text": "t"}
    if modality == "audio":
        row["audio"] = str(media["short"])
    elif modality in ("video", "mixed"):
        row["video"] = str(media["clip"])
        if modality == "mixed" and with_audio:
            row["audio"] = str(media["short"])
    elif modality == "image":
        row["image"] = str(media["short"])
    return row


@pytest.mark.parametrize("stratum,modality", [
    ("S1", "video"), ("S1", "image"), ("S2", "audio"), ("S2", "image"),
    ("S3", "audio"), ("S3", "video"), ("S3", "image"),
])
def test_a_row_of_another_modality_is_refused_naming_its_line(tmp_path, media, stratum, modality):
    own = {"S1": "audio", "S2": "video", "S3": "mixed"}[stratum]
    path = _manifest(tmp_path, media, [_row(0, own, media), _row(1, modality, media)])
    with pytest.raises(InputError) as err:
        load_samples(path, stratum, 10)
    assert str(err.value).startswith(f"{path}:2: ") and f"'{modality}' row" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(InputError, match=re.escape(f"{path}:2: ")):  # eval reads rows the same way
        load_rows(str(path), stratum, 10)


def test_a_mixed_row_without_its_track_is_refused_for_audio(tmp_path, media):
    path = _manifest(tmp_path, media, [_row(0, "mixed", media, with_audio=False)])
    with pytest.raises(InputError, match=re.escape(f"{path}:1: row 'r0' is a 'mixed' row")):
        load_samples(path, "S1", 10)


@pytest.mark.parametrize("stratum,uses", [("S2", "video"), ("S1", "audio")])
def test_mixed_rows_a_stratum_can_use_are_taken_with_one_warning(tmp_path, media, caplog, stratum, uses):
    own = {"S1": "audio", "S2": "video"}[stratum]
    rows = [_row(0, own, media), _row(1, "mixed", media), _row(2, "mixed", media), _row(3, own, media)]
    path = _manifest(tmp_path, media, rows)
    with caplog.at_level(logging.WARNING, logger="reap_omni"):
        samples = load_samples(path, stratum, 10)
    assert len(samples) == 4
    unused = "video" if uses == "audio" else "audio"
    assert getattr(samples[1], uses) is not None and getattr(samples[1], unused) is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"{path}:2: row 'r1' is a 'mixed' row") and "(2 such rows)" in warnings[0]


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_a_manifest_or_media_that_is_no_regular_file_is_refused_unread(tmp_path, media, kind):
    special = {"folder": tmp_path / "dir", "fifo": tmp_path / "pipe", "device": Path("/dev/zero")}[kind]
    if kind == "folder":
        special.mkdir()
    elif kind == "fifo":
        os.mkfifo(special)  # reading it would wait for a writer forever
    with pytest.raises(InputError, match="--audio-data is not a regular file"):
        load_samples(special, "S1", 10)
    row = {"id": "r0", "modality": "audio", "audio": str(special), "text": "t"}
    path = _manifest(tmp_path, media, [row])
    with pytest.raises(InputError, match=re.escape(f"not a media file (a folder, fifo or device): {special}")):
        load_samples(path, "S1", 10)


@pytest.mark.parametrize("rank, said", [("0", 1), ("1", 0), ("3", 0)])
def test_under_torchrun_only_rank_0_warns_of_mixed_rows(tmp_path, media, caplog, monkeypatch, rank, said):
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", rank)
    path = _manifest(tmp_path, media, [_row(0, "video", media), _row(1, "mixed", media)])
    with caplog.at_level(logging.WARNING, logger="reap_omni"):
        assert len(load_samples(path, "S2", 10)) == 2  # every rank takes the rows; one of them says so
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == said


# -- the flag ---------------------------------------------------------------------------------------------

def _args(**kw) -> argparse.Namespace:
    base = {"video_fps": 2.0, "max_seq_len": 4096, "video_max_pixels": None, "max_media_seconds": 300.0}
    return argparse.Namespace(**{**base, **kw})


def test_max_media_seconds_flag():
    assert input_options(_args()).max_media_seconds == 300.0
    assert input_options(_args(max_media_seconds=0.0)).max_media_seconds is None
    for bad in (float("nan"), float("inf"), -1.0, 0.5):
        with pytest.raises(ReapOmniError, match="--max-media-seconds"):
            input_options(_args(max_media_seconds=bad))
    with pytest.raises(ReapOmniError, match="--video-fps"):
        input_options(_args(video_fps=float("nan")))


def test_the_commands_refuse_a_mismatched_row_in_one_line(tiny_ckpt, manifests, tmp_path, capsys):
    from reap_omni.cli import run

    video_row = json.loads(manifests["video"].read_text().splitlines()[0])
    wrong = tmp_path / "audio.jsonl"
    wrong.write_text(json.dumps(video_row) + "\n")
    strata = ["--audio-data", str(wrong), "--video-data", str(manifests["video"]),
              "--mixed-data", str(manifests["mixed"])]
    for argv in (["prune", "--model-path", str(tiny_ckpt), "--dry-run", *strata],
                 ["eval", "--model", str(tiny_ckpt), "--methods", "", *strata, "--output", str(tmp_path / "ev")]):
        assert run(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        assert f"{wrong}:1: row 'v0' is a 'video' row" in err and "--audio-data" in err


def test_prune_says_once_that_s2_ignores_the_sound_of_mixed_rows(tiny_ckpt, manifests, tmp_path, capsys):
    from reap_omni.cli import run

    assert run(["prune", "--model-path", str(tiny_ckpt), "--dry-run", "--audio-data", str(manifests["audio"]),
                 "--video-data", str(manifests["mixed"]), "--mixed-data", str(manifests["mixed"]),
                 "--calibration-samples", "2", "--video-max-pixels", "4096",
                 "--scores-out", str(tmp_path / "s.json")]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "'mixed' row" in line]
    assert len(lines) == 1 and f"{manifests['mixed']}:1: row 'm0'" in lines[0] and "(2 such rows)" in lines[0], err
