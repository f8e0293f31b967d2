"""S3 rows from a source that keeps the video-only stream and the audio apart (AVSpeech): combined into one MP4."""

from __future__ import annotations

import pytest

from reap_omni.calibration_set.av_mux import has_audio_stream, mux_audio
from reap_omni.fixtures.media import make_audio, make_video
from reap_omni.media.probe import MediaRejected, probe


def test_video_only_stream_and_separate_audio_become_one_file(tmp_path):
    video = make_video(seconds=1.0, seed=3, with_audio=False)
    audio = make_audio(seconds=1.0, fmt="flac", sample_rate=16000, seed=3)
    assert not has_audio_stream(video, "v.mp4") and has_audio_stream(audio, "a.flac")
    out = tmp_path / "both.mp4"
    out.write_bytes(mux_audio(video, audio, "clip"))
    info = probe(out)
    assert info.has_video and info.has_audio and info.audio_codec == "aac" and info.video_codec == "h264"
    assert info.duration == pytest.approx(1.0, abs=0.15)
    assert (info.width, info.height) == (probe_bytes(tmp_path, video).width, probe_bytes(tmp_path, video).height)


def probe_bytes(tmp_path, data: bytes):
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    return probe(path)


def test_missing_audio_or_garbage_is_a_rejection_not_a_crash():
    video = make_video(seconds=0.5, seed=1, with_audio=False)
    with pytest.raises(MediaRejected) as exc:
        mux_audio(video, video, "clip")
    assert exc.value.reason == "no_audio"
    with pytest.raises(MediaRejected) as bad:
        has_audio_stream(b"not a container", "x.mp4")
    assert bad.value.reason == "undecodable"
