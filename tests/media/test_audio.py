"""Audio normalisation: mono 16 kHz PCM out of any audio or video, exact clip windows, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from reap_omni.errors import InputError
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.media.audio import load_audio, normalize_audio
from reap_omni.media.probe import probe


def _peak_hz(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave.astype(np.float64)))
    return float(np.argmax(spectrum) * rate / len(wave))


@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_stereo_mp3_becomes_16k_mono(tmp_path, fmt):
    src = make_audio(None, seconds=2.0, sample_rate=44100, channels=2, fmt="mp3")
    res = normalize_audio(src, tmp_path / f"out.{fmt}", name="clip.mp3", fmt=fmt)
    info = probe(tmp_path / f"out.{fmt}")
    assert (info.sample_rate, info.channels) == (16000, 1)
    assert info.audio_codec == {"wav": "pcm_s16le", "flac": "flac"}[fmt]
    assert res.duration == pytest.approx(2.0, abs=0.03)
    assert (res.source_sample_rate, res.source_channels) == (44100, 2)
    assert res.clip_start is None and res.clip_end is None


def test_resampled_tone_keeps_its_pitch(tmp_path):
    src = make_audio(tmp_path / "in.flac", seconds=1.0, sample_rate=48000, freq=1000.0)
    assert len(src) > 0
    wave = load_audio(tmp_path / "in.flac", sample_rate=16000)
    assert len(wave) == pytest.approx(16000, abs=40)
    assert _peak_hz(wave, 16000) == pytest.approx(1000.0, abs=2.0)


def test_clip_window_is_exact(tmp_path):
    src = make_audio(None, seconds=3.0, sample_rate=22050, fmt="flac")
    res = normalize_audio(src, tmp_path / "c.wav", name="a.flac", start=0.5, end=1.75)
    assert res.duration == pytest.approx(1.25, abs=1e-3)
    assert (res.clip_start, res.clip_end) == (0.5, pytest.approx(1.75, abs=1e-3))
    assert probe(tmp_path / "c.wav").duration == pytest.approx(1.25, abs=1e-3)


def test_window_content_matches_the_source_at_that_time():
    src = make_audio(None, seconds=2.0, sample_rate=16000, fmt="wav", seed=3)
    whole = load_audio(src)
    part = load_audio(src, start=1.0, end=1.5)
    assert len(part) == 8000
    np.testing.assert_allclose(part, whole[16000:24000], atol=1e-3)


def test_audio_track_of_a_video(tmp_path):
    video = make_video(None, seconds=1.5, audio_rate=44100)
    res = normalize_audio(video, tmp_path / "v.wav", name="clip.mp4")
    assert res.source_codec == "aac" and res.sample_rate == 16000
    assert res.duration == pytest.approx(1.5, abs=0.1)


def test_original_copies_bytes_unchanged(tmp_path):
    src = make_audio(tmp_path / "in.mp3", seconds=1.0, fmt="mp3")
    res = normalize_audio(tmp_path / "in.mp3", tmp_path / "out.mp3", fmt="original")
    assert (tmp_path / "out.mp3").read_bytes() == src
    # FFmpeg of PyAV 12 counts the MP3 encoder's padding frames (1.08 s); newer builds trim it (1.0 s)
    assert res.format == "mp3" and res.duration == pytest.approx(1.0, abs=0.1)
    with pytest.raises(InputError, match="re-encoding"):
        normalize_audio(src, tmp_path / "o2.mp3", fmt="original", start=0.1)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"", "empty media"), (b"not audio at all" * 64, "cannot open media")],
)
def test_bad_input_names_the_source_and_leaves_no_file(tmp_path, data, message):
    with pytest.raises(InputError, match=f"^speaker7/utt1.mp3: {message}"):
        normalize_audio(data, tmp_path / "o.wav", name="speaker7/utt1.mp3")
    assert list(tmp_path.iterdir()) == []


def test_video_without_audio_and_empty_window_are_refused(tmp_path):
    silent = make_video(None, seconds=1.0, with_audio=False)
    with pytest.raises(InputError, match="no audio stream"):
        normalize_audio(silent, tmp_path / "o.wav", name="silent.mp4")
    with pytest.raises(InputError, match="no audio samples decoded in window"):
        normalize_audio(make_audio(None, seconds=1.0), tmp_path / "o.wav", name="a.flac", start=4.0)
    with pytest.raises(InputError, match="not after"):
        normalize_audio(make_audio(None, seconds=1.0), tmp_path / "o.wav", name="a.flac", start=0.5, end=0.2)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="not found"):
        normalize_audio(tmp_path / "nope.wav", tmp_path / "o.wav")
