"""The audio track of a mixed row's video, extracted once for trainers that need it as its own file.

A mixed (S3) row is a video with its sound. Built calibration rows carry the 16 kHz track in ``audio``;
rows from ``folder``/``csv``/``json`` often only have the video. MS-SWIFT without ``USE_AUDIO_IN_VIDEO``
and LLaMA-Factory want the track listed in ``audios``, so the exporters extract it here: 16 kHz mono WAV
(PyAV), into ``<output stem>.media/`` beside the output (never beside the input), named by the sha256 of
the video's bytes, so a rerun (or another row with the same video) reuses the file without decoding.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from reap_omni.convert.sample import RowProblem
from reap_omni.errors import InputError
from reap_omni.manifest.lock import file_sha256
from reap_omni.manifest.paths import is_url

#: Qwen3-Omni's processors take 16 kHz mono, as the calibration builder writes.
TRACK_RATE = 16000


def media_folder_for(output_path: str | os.PathLike[str]) -> Path:
    """``out/train.jsonl`` -> ``out/train.media`` (absolute, so the rows' paths are too)."""
    out = Path(os.path.abspath(os.fspath(output_path)))
    return out.with_name(out.stem + ".media")


class AudioTrackExtractor:
    """``extractor(video_path) -> wav_path``; counts the rows it served and the files it wrote."""

    def __init__(self, output_path: str | os.PathLike[str], sample_rate: int = TRACK_RATE):
        self.folder = media_folder_for(output_path)
        self.sample_rate = sample_rate
        self.rows = 0  # rows given an extracted track
        self.written = 0  # WAV files decoded and written by this run (the rest were reused)
        self._by_video: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, video: str) -> str:
        if is_url(video):
            raise RowProblem("mixed row has no 'audio' file and its video is a URL, whose track cannot be "
                             "extracted here; download it first or pass --audio-in-video")  # fmt: skip
        real = os.path.realpath(video)
        with self._lock:
            done = self._by_video.get(real)
        if done is None:
            done = self._extract(real, video)
            with self._lock:
                self._by_video[real] = done
        with self._lock:
            self.rows += 1
        return done

    def _extract(self, real: str, shown: str) -> str:
        from reap_omni.media.audio import normalize_audio
        from reap_omni.media.probe import MediaRejected

        try:
            digest = file_sha256(real)
        except OSError as exc:
            raise RowProblem(f"cannot read video {shown}: {exc.strerror or exc}") from None
        dst = self.folder / f"{digest[:24]}.{self.sample_rate // 1000}k.wav"
        if dst.is_file() and dst.stat().st_size > 44:  # a finished file from an earlier export (WAV header + data)
            return os.fspath(dst)
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            normalize_audio(real, dst, name=os.path.basename(shown), sample_rate=self.sample_rate, fmt="wav")
        except MediaRejected as exc:
            if exc.reason == "no_audio":
                raise RowProblem(f"mixed row's video {shown} has no audio track, so it is not audio+video; "
                                 "make it a 'video' row or give its 'audio' file") from None  # fmt: skip
            raise RowProblem(f"cannot extract the audio track of {shown}: {exc.message}") from None
        except InputError as exc:
            raise RowProblem(f"cannot extract the audio track of {shown}: {exc.message}") from None
        with self._lock:
            self.written += 1
        return os.fspath(dst)

    def summary(self) -> str | None:
        """One line for the command's output, or None when no row needed a track."""
        if not self.rows:
            return None
        reused = self.rows - self.written
        return (f"extracted the audio track of {self.rows} mixed row(s) into {self.folder} "
                f"({self.written} decoded, {reused} reused)")
