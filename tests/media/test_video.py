"""Video normalisation: windows, exact cuts, scaling, frame rate, audio kept/stripped/extracted, rejections."""

from __future__ import annotations

import av
import numpy as np
import pytest

from reap_omni.fixtures.media import make_audio, make_video, pattern_frame
from reap_omni.media import video as video_mod
from reap_omni.media.probe import MediaRejected, probe
from reap_omni.media.video import choose_window, normalize_video, output_size


@pytest.mark.parametrize(
    ("duration", "segment", "expected"),
    [
        (20.0, None, (0.0, 20.0)),  # short source: keep all
        (100.0, None, (35.0, 65.0)),  # centred on the source midpoint
        (100.0, (50.0, 60.0), (40.0, 70.0)),  # centred on the segment
        (100.0, (0.0, 4.0), (0.0, 30.0)),  # clamped at the start
        (100.0, (95.0, 99.0), (70.0, 100.0)),  # clamped at the end
        (None, (50.0, 60.0), (40.0, 70.0)),  # unknown duration
    ],
)
def test_choose_window(duration, segment, expected):
    assert choose_window(duration, 30.0, segment) == pytest.approx(expected)


def test_output_size_keeps_aspect_and_is_even():
    assert output_size(1920, 1080, 640) == (640, 360)
    assert output_size(1080, 1920, 333) == (186, 332)
    assert output_size(65, 49, None) == (64, 48)
    assert output_size(64, 48, 1000) == (64, 48)


def _frames(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int32) for f in c.decode(video=0)]


def test_cut_is_exact_and_output_is_faststart_h264(tmp_path):
    src = tmp_path / "src.mkv"
    make_video(src, seconds=6.0, fps=10, container="mkv", with_audio=False)
    res = normalize_video(src, tmp_path / "out.mp4", max_seconds=2.0, segment=(4.0, 5.0))
    assert (res.clip_start, res.clip_end) == pytest.approx((3.5, 5.5))
    assert res.duration == pytest.approx(2.0) and res.fps == 10.0
    info = probe(tmp_path / "out.mp4")
    assert info.video_codec == "h264" and not info.has_audio
    assert info.duration == pytest.approx(2.0, abs=0.05)
    data = (tmp_path / "out.mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # faststart
    source = [pattern_frame(i, 10, 64, 48).astype(np.int32) for i in range(60)]
    out = _frames(tmp_path / "out.mp4")
    assert len(out) == 20
    for k, frame in enumerate(out):
        nearest = int(np.argmin([np.abs(frame - s).mean() for s in source]))
        assert nearest == 35 + k


def test_downscale_and_lower_fps(tmp_path):
    src = make_video(None, seconds=2.0, width=80, height=60, fps=20, with_audio=False)
    res = normalize_video(src, tmp_path / "o.mp4", name="v.mp4", max_side=40, fps=5)
    assert (res.width, res.height, res.fps) == (40, 30, 5.0)
    assert (res.source_width, res.source_height, res.source_fps) == (80, 60, 20.0)
    info = probe(tmp_path / "o.mp4")
    assert (info.width, info.height, info.fps) == (40, 30, 5.0)
    assert len(_frames(tmp_path / "o.mp4")) == 10


def test_fps_is_never_raised(tmp_path):
    src = make_video(None, seconds=1.0, fps=10, with_audio=False)
    assert normalize_video(src, tmp_path / "o.mp4", fps=30).fps == 10.0


def test_video_row_strips_audio_by_default_and_records_it(tmp_path):
    src = make_video(None, seconds=1.0)
    res = normalize_video(src, tmp_path / "o.mp4", name="v.mp4")
    assert res.source_has_audio and res.audio_stripped and not res.has_audio
    assert not probe(tmp_path / "o.mp4").has_audio
    kept = normalize_video(src, tmp_path / "k.mp4", name="v.mp4", keep_audio=True)
    assert kept.has_audio and not kept.audio_stripped
    info = probe(tmp_path / "k.mp4")
    assert info.audio_codec == "aac" and info.duration == pytest.approx(1.0, abs=0.1)


def test_mixed_row_writes_16k_mono_track_of_the_same_window(tmp_path):
    src = make_video(None, seconds=4.0, container="webm", codec="vp9", audio_rate=48000)
    res = normalize_video(
        src, tmp_path / "o.mp4", name="m.webm", max_seconds=1.5, keep_audio=True, audio_out=tmp_path / "o.wav"
    )
    assert res.clip_start == pytest.approx(1.25, abs=0.01)  # webm duration includes the Opus tail
    assert res.audio_path == str(tmp_path / "o.wav")
    assert res.audio_duration == pytest.approx(1.5, abs=1e-3)
    wav = probe(tmp_path / "o.wav")
    assert (wav.sample_rate, wav.channels, wav.audio_codec) == (16000, 1, "pcm_s16le")
    assert probe(tmp_path / "o.mp4").has_audio


def test_mixed_row_without_audio_is_rejected_with_reason(tmp_path):
    src = make_video(None, seconds=1.0, with_audio=False)
    with pytest.raises(MediaRejected, match="^silent.mp4: no audio stream") as err:
        normalize_video(src, tmp_path / "o.mp4", name="silent.mp4", audio_out=tmp_path / "o.wav")
    assert err.value.reason == "no_audio"
    assert list(tmp_path.iterdir()) == []


def test_audio_only_input_is_rejected_as_no_video(tmp_path):
    with pytest.raises(MediaRejected, match="no video stream") as err:
        normalize_video(make_audio(None), tmp_path / "o.mp4", name="a.flac")
    assert err.value.reason == "no_video"


def test_garbage_is_rejected_as_undecodable(tmp_path):
    with pytest.raises(MediaRejected) as err:
        normalize_video(b"\x00garbage" * 200, tmp_path / "o.mp4", name="bad.mp4")
    assert err.value.reason == "undecodable" and "bad.mp4" in str(err.value)


def test_failure_midway_leaves_no_partial_outputs(tmp_path, monkeypatch):
    src = make_video(None, seconds=2.0)
    calls = {"n": 0}
    real_feed = video_mod._VideoSink.feed

    def failing_feed(self, frame):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # like a killed run
        real_feed(self, frame)

    monkeypatch.setattr(video_mod._VideoSink, "feed", failing_feed)
    with pytest.raises(KeyboardInterrupt):
        normalize_video(src, tmp_path / "o.mp4", name="v.mp4", keep_audio=True, audio_out=tmp_path / "o.wav")
    assert list(tmp_path.iterdir()) == []


def test_encoder_fallback_is_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(video_mod, "VIDEO_ENCODERS", ("no-such-encoder", "mpeg4"))
    res = normalize_video(make_video(None, seconds=1.0), tmp_path / "o.mp4", name="v.mp4")
    assert res.video_codec == "mpeg4"
    assert probe(tmp_path / "o.mp4").video_codec == "mpeg4"
