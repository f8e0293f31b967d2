"""Media on hostile input and hostile disks: long rows stop early, storage failures are plain OSErrors."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import av
import pytest

import reap_omni.media.audio as audio_mod
import reap_omni.media.output as output_mod
from reap_omni.fixtures.media import make_audio, make_silence, make_video
from reap_omni.media.audio import normalize_audio
from reap_omni.media.probe import DEFAULT_MAX_DURATION, MediaRejected, probe
from reap_omni.media.video import normalize_video

# -- duration limits -------------------------------------------------------------------------------------


@pytest.fixture
def decoded(monkeypatch):
    """Seconds of source time decoded by ``normalize_audio`` (the last frame's time; None if nothing)."""
    seen: list[float] = []
    real = audio_mod._decoded_then_flush

    def counting(container, stream):
        for frame in real(container, stream):
            if frame is not None:
                seen.append(float(frame.time))
            yield frame

    monkeypatch.setattr(audio_mod, "_decoded_then_flush", counting)
    return seen


def _nothing_written(folder: Path) -> bool:
    return not any(folder.iterdir())


def test_a_header_over_the_limit_is_rejected_without_decoding(tmp_path, decoded):
    src = make_silence(seconds=120, sample_rate=8000)
    with pytest.raises(MediaRejected) as err:
        normalize_audio(src, tmp_path / "a.wav", name="long.flac", max_duration=10)
    assert err.value.reason == "too_long" and "the container says 120.00s, over the 10s limit" in str(err.value)
    assert decoded == [] and _nothing_written(tmp_path)


def test_the_default_limit_is_ten_minutes(tmp_path, decoded):
    assert DEFAULT_MAX_DURATION == 600
    with pytest.raises(MediaRejected, match="over the 600s limit") as err:
        normalize_audio(make_silence(seconds=700, sample_rate=8000), tmp_path / "a.flac", fmt="flac")
    assert err.value.reason == "too_long" and decoded == [] and _nothing_written(tmp_path)
    res = normalize_audio(make_silence(seconds=700, sample_rate=8000), tmp_path / "b.wav", max_duration=None)
    assert res.duration == pytest.approx(700)


def test_a_missing_header_stops_decoding_just_past_the_limit(tmp_path, decoded):
    src = make_silence(seconds=120, sample_rate=8000, hide_duration=True)
    assert probe(src).duration is None
    with pytest.raises(MediaRejected, match="decoding passed 10.") as err:
        normalize_audio(src, tmp_path / "a.wav", max_duration=10)
    assert err.value.reason == "too_long" and _nothing_written(tmp_path)
    assert 9 < max(decoded) <= 11  # stopped one frame after the limit, not at 120 s


def test_decoding_decides_within_the_header_slack_exactly_like_the_build_filter(tmp_path, decoded):
    src = make_silence(seconds=5, sample_rate=8000)
    assert normalize_audio(src, tmp_path / "ok.wav", max_duration=5).duration == pytest.approx(5)
    with pytest.raises(MediaRejected, match="decoding passed 4.9") as err:
        normalize_audio(src, tmp_path / "no.wav", max_duration=4.9)  # the header's 5 s is within the slack
    assert err.value.reason == "too_long" and not (tmp_path / "no.wav").exists()


def test_a_clip_window_is_the_row_the_limit_applies_to(tmp_path):
    src = make_silence(seconds=120, sample_rate=8000)
    res = normalize_audio(src, tmp_path / "w.wav", start=50, end=53, max_duration=10)
    assert res.duration == pytest.approx(3)
    with pytest.raises(MediaRejected, match="the container says 70.00s"):
        normalize_audio(src, tmp_path / "x.wav", start=50, max_duration=10)


def test_original_copies_are_measured_by_their_packets_when_the_header_is_silent(tmp_path):
    with pytest.raises(MediaRejected, match="over the 10s limit") as err:
        normalize_audio(make_silence(seconds=120, sample_rate=8000, hide_duration=True), tmp_path / "a.flac",
                        fmt="original", max_duration=10)
    assert err.value.reason == "too_long" and _nothing_written(tmp_path)
    res = normalize_audio(make_silence(seconds=4, sample_rate=8000, hide_duration=True), tmp_path / "b.flac",
                          fmt="original", max_duration=10)
    assert res.duration == pytest.approx(4, abs=0.6)


def test_a_video_source_over_the_limit_is_rejected_from_its_header_or_while_decoding(tmp_path):
    src = make_video(seconds=3.0, width=32, height=24, fps=10)
    with pytest.raises(MediaRejected, match="the container says 3.") as err:
        normalize_video(src, tmp_path / "a.mp4", max_duration=2)
    assert err.value.reason == "too_long" and _nothing_written(tmp_path)
    with pytest.raises(MediaRejected, match="decoding passed 2.") as err:  # 3 s is within the slack of 2.8 s
        normalize_video(src, tmp_path / "b.mp4", max_seconds=None, max_duration=2.8)
    assert err.value.reason == "too_long" and _nothing_written(tmp_path)
    res = normalize_video(src, tmp_path / "c.mp4", max_seconds=1.0, max_duration=None)
    assert res.duration == pytest.approx(1.0) and res.source_duration == pytest.approx(3.0, abs=0.1)


# -- storage failures ------------------------------------------------------------------------------------

TONE = make_audio(seconds=12, sample_rate=16000)  # ~200 KB as FLAC, 380 KB as WAV: none fits the tiny disk
VIDEO = make_video(seconds=4.0, width=320, height=240, fps=25, with_audio=True)

WRITERS = {
    "wav": lambda dst: normalize_audio(TONE, dst, fmt="wav"),
    "flac": lambda dst: normalize_audio(TONE, dst, fmt="flac"),
    "original": lambda dst: normalize_audio(TONE, dst, fmt="original"),
    "mp4": lambda dst: normalize_video(VIDEO, dst, max_seconds=None, keep_audio=True),
    "mp4+wav": lambda dst: normalize_video(VIDEO, dst, max_seconds=None, keep_audio=True,
                                           audio_out=dst.with_suffix(".wav")),
}


def _assert_plain_storage_error(exc: BaseException, code: int, dst: Path) -> None:
    assert isinstance(exc, OSError) and type(exc).__module__ == "builtins", type(exc).__mro__
    assert exc.errno == code and exc.filename == os.fspath(dst) and exc.strerror == os.strerror(code)


def _temps(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".tmp-" in p.name]


@pytest.fixture
def tiny_disk(mounts):
    """A 64 KiB tmpfs (root only): a few KB of old files fit, no normalised output does."""
    return mounts.tmpfs("64k")


@pytest.mark.parametrize("kind", list(WRITERS))
def test_a_full_disk_is_a_plain_oserror_naming_the_destination_and_keeps_the_old_file(tiny_disk, kind, capfd):
    dst = tiny_disk / ("row.mp4" if kind.startswith("mp4") else f"row.{kind}")
    dst.write_bytes(b"the finished row from an earlier run")
    capfd.readouterr()
    with pytest.raises(OSError) as err:
        WRITERS[kind](dst)
    _assert_plain_storage_error(err.value, errno.ENOSPC, dst)
    assert dst.read_bytes() == b"the finished row from an earlier run"
    assert _temps(tiny_disk) == [] and capfd.readouterr().err == ""
    if kind == "mp4+wav":
        assert not dst.with_suffix(".wav").exists()


@pytest.mark.parametrize("kind", ["wav", "original", "mp4+wav"])
def test_a_read_only_file_system_is_a_plain_oserror(tiny_disk, mounts, kind, capfd):
    dst = tiny_disk / ("row.mp4" if kind.startswith("mp4") else f"row.{kind}")
    dst.write_bytes(b"old")
    if not mounts.run("-o", "remount,ro", str(tiny_disk)):
        pytest.skip("cannot remount read-only")
    capfd.readouterr()
    with pytest.raises(OSError) as err:
        WRITERS[kind](dst)
    _assert_plain_storage_error(err.value, errno.EROFS, dst)
    assert dst.read_bytes() == b"old" and capfd.readouterr().err == ""


def _av_error(code: int, filename: str) -> BaseException:
    """The exception PyAV itself raises for ``code`` (its classes differ across versions)."""
    try:
        av.error.err_check(-code, filename)
    except Exception as exc:  # noqa: BLE001 - whatever class this PyAV uses
        return exc
    raise AssertionError("err_check did not raise")


class _FailingContainer:
    """A real output container whose ``mux`` fails with PyAV's error for ``code`` after a few packets."""

    def __init__(self, real, path: str, code: int):
        self._real, self._path, self._code, self._packets = real, path, code, 0

    def mux(self, packets):
        self._packets += 1
        if self._packets > 3:
            raise _av_error(self._code, self._path)
        return self._real.mux(packets)

    def close(self):
        self._real.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __getattr__(self, name):
        return getattr(self._real, name)


class _FailingFile:
    """A temp file whose ``write`` raises ``OSError(code)`` (what a full disk does to Python I/O)."""

    def __init__(self, real, code: int):
        self._real, self._code = real, code

    def write(self, data):
        self._real.write(bytes(data[:100]))  # a torn start, as a real full disk leaves
        raise OSError(self._code, os.strerror(self._code))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()

    def __getattr__(self, name):
        return getattr(self._real, name)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("kind", list(WRITERS))
def test_injected_storage_errors_are_plain_oserrors_with_their_errno(tmp_path, monkeypatch, capfd, kind, code):
    real_open, real_file = output_mod.open_container, output_mod._open_file
    dst = tmp_path / ("row.mp4" if kind.startswith("mp4") else f"row.{kind}")

    def failing_container(path, fmt, options=None):
        real = real_open(path, fmt, options)
        return _FailingContainer(real, path, code) if Path(path).name.startswith(f".{dst.name}.") else real

    monkeypatch.setattr(output_mod, "open_container", failing_container)
    monkeypatch.setattr(output_mod, "_open_file", lambda path: _FailingFile(real_file(path), code))
    dst.write_bytes(b"old")
    capfd.readouterr()
    with pytest.raises(OSError) as err:
        WRITERS[kind](dst)
    _assert_plain_storage_error(err.value, code, dst)
    assert dst.read_bytes() == b"old" and _temps(tmp_path) == [] and capfd.readouterr().err == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [dst.name]


def test_decoding_errors_and_unreadable_inputs_stay_media_rejections(tmp_path):
    with pytest.raises(MediaRejected) as err:
        normalize_audio(b"fLaC" + bytes(200), tmp_path / "x.wav")
    assert err.value.reason == "undecodable" and _temps(tmp_path) == []
