"""Options of one calibration build (``download`` / ``quickstart``).

One small frozen dataclass instead of a long argument list: the CLI fills it, the planner, sampler and
runner read it, and the lock file records it so ``--from-lock`` can rebuild the same set.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError

AUDIO_FORMATS = ("wav", "flac", "original")
#: Strata and the manifest file each one is written to (``<output>/calibration/<stratum>.jsonl``); ``text`` is S0.
STRATA = ("audio", "video", "mixed", "text")


@dataclass(frozen=True)
class MediaOptions:
    """How written media are normalised (see ``reap_omni.media``)."""

    audio_format: str = "wav"
    sample_rate: int = 16000
    max_video_seconds: float = 30.0
    max_side: int | None = None
    fps: float | None = None
    strip_audio: bool = True  # S2 video rows: drop the audio track (S3 rows always keep it)


@dataclass(frozen=True)
class BuildOptions:
    """Everything that decides *which* rows a build writes and *how*; not how it reports progress."""

    output: Path
    samples: int = 100  # rows per dataset (the plan may override per dataset, e.g. quickstart balancing)
    seed: int = 0
    min_duration: float | None = None
    max_duration: float | None = None
    language: str | None = None
    spread: int | None = None  # units (shards / row groups) the sample is spread over; None = automatic
    oversample: float = 2.0  # at most this many media decodes per wanted row in a unit before giving up on it
    workers: int = 4
    overwrite: bool = False
    quiet: bool = False
    wait_lock: bool = False  # another run holds the output folder: wait for it instead of refusing
    demo: bool = False  # quickstart --demo: synthetic repos on a loopback Hub; stats and lock say so
    token: str | None = field(default=None, repr=False)  # never printed nor written to the lock
    local_path: Path | None = None
    opt_in: bool = False  # also try sources the catalog keeps opt-in (YouTube, mirrors with licence risk)
    #: try sources that offer only a benchmark's evaluation split (``eval_split``); ``quickstart`` turns it off
    #: unless ``--allow-eval-splits``; ``download`` of a named dataset keeps it on (its rows are flagged)
    allow_eval_splits: bool = True
    media: MediaOptions = field(default_factory=MediaOptions)

    def __post_init__(self) -> None:
        if self.samples < 1:
            raise ReapOmniError(f"--samples must be at least 1 (got {self.samples})")
        if self.workers < 1:
            raise ReapOmniError(f"--workers must be at least 1 (got {self.workers})")
        if self.spread is not None and self.spread < 1:
            raise ReapOmniError(f"--spread must be at least 1 (got {self.spread})")
        if self.oversample < 1:
            raise ReapOmniError(f"--oversample must be at least 1 (got {self.oversample})")
        for name in ("min_duration", "max_duration"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ReapOmniError(f"--{name.replace('_', '-')} must not be negative (got {value})")
        if self.min_duration is not None and self.max_duration is not None and self.min_duration > self.max_duration:
            raise ReapOmniError(
                f"--min-duration {self.min_duration} is larger than --max-duration {self.max_duration}"
            )
        m = self.media
        if m.audio_format not in AUDIO_FORMATS:
            raise ReapOmniError(f"--audio-format must be one of {', '.join(AUDIO_FORMATS)} (got {m.audio_format!r})")
        if m.sample_rate < 1000:
            raise ReapOmniError(f"--sample-rate must be at least 1000 Hz (got {m.sample_rate})")
        if m.max_video_seconds <= 0:
            raise ReapOmniError(f"--max-video-seconds must be positive (got {m.max_video_seconds})")
        if m.max_side is not None and m.max_side < 16:
            raise ReapOmniError(f"--max-side must be at least 16 pixels (got {m.max_side})")
        if m.fps is not None and m.fps <= 0:
            raise ReapOmniError(f"--fps must be positive (got {m.fps})")

    @property
    def calibration_dir(self) -> Path:
        return self.output / "calibration"

    def manifest_path(self, stratum: str) -> Path:
        return self.calibration_dir / f"{stratum}.jsonl"

    def media_dir(self, dataset: str) -> Path:
        return self.output / dataset

    def to_lock_dict(self) -> dict[str, Any]:
        """The options that decide the content of the set (what a lock file must remember); no token."""
        keep = ("seed", "min_duration", "max_duration", "language", "spread", "oversample")
        out = {k: getattr(self, k) for k in keep}
        out["media"] = asdict(self.media)
        if self.demo:
            out["demo"] = True
        return out


def media_options_from_lock(data: dict[str, Any]) -> MediaOptions:
    """Rebuild ``MediaOptions`` from a lock's ``options.media``, ignoring keys this version does not know."""
    known = {f.name for f in fields(MediaOptions)}
    return MediaOptions(**{k: v for k, v in (data or {}).items() if k in known})


def absolute_output(path: str | os.PathLike[str]) -> Path:
    """Manifests hold absolute paths, so the output folder is made absolute once, up front."""
    if not os.fspath(path).strip():
        raise ReapOmniError("--output is empty; give the folder to write the calibration set to")
    return Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
