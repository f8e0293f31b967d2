"""How much of a row's media ``--max-seq-len`` can use, known before the first frame is decoded.

Qwen3-Omni's token counts are functions of the media's length (and of the frame size), computed here with
transformers' own formulas: audio is 16 kHz -> one mel frame per ``hop_length`` samples -> 13 tokens per
``2 * n_window`` mel frames (``_get_feat_extract_output_lengths``); video is ``--video-fps`` frames padded to
the temporal patch, each group of ``temporal_patch_size`` frames costing ``(h / patch) * (w / patch) /
merge**2`` tokens at the size ``smart_resize`` gives the frame. So the decoder can stop at the window (a
3-hour file costs what its first minutes cost) and frames can be brought to the processor's size as they
are decoded (a 4K frame never stays in memory). ``inputs.fit_sample`` still checks the real length.
"""

from __future__ import annotations

import contextlib
import math
import sys
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reap_omni.model.media_load import SAMPLE_RATE, video_dimensions

#: The shortest window tried: below it a clip says nothing (and ``load_audio`` refuses < 0.1 s).
MIN_SECONDS = 0.5


def audio_tokens(mel_frames: int, n_window: int = 50) -> int:
    """Audio tokens for ``mel_frames`` feature frames: transformers' ``_get_feat_extract_output_lengths``."""
    chunk = 2 * n_window
    feat = (mel_frames % chunk - 1) // 2 + 1
    return ((feat - 1) // 2 + 1 - 1) // 2 + 1 + (mel_frames // chunk) * 13


@dataclass(frozen=True)
class VideoGeometry:
    """The vision processor's patching and the pixel range it resizes frames into."""

    patch: int
    merge: int
    temporal: int
    min_pixels: int
    max_pixels: int
    interpolation: Any = None  # torchvision InterpolationMode of the processor's resample

    @classmethod
    def of(cls, processor, size: dict[str, int] | None) -> VideoGeometry:
        """From the processor, with ``size`` (``--video-max-pixels``) or the size the processor would use."""
        vp = processor.video_processor
        size = dict(size or _default_size(processor))
        return cls(
            patch=int(vp.patch_size), merge=int(getattr(vp, "merge_size", 1) or 1),
            temporal=int(getattr(vp, "temporal_patch_size", 2) or 2),
            min_pixels=int(size.get("shortest_edge") or size.get("min_pixels") or 0),
            max_pixels=int(size.get("longest_edge") or size.get("max_pixels")),
            interpolation=_interpolation(getattr(vp, "resample", None)),
        )

    def frame_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) the processor resizes a frame to: transformers' ``smart_resize``."""
        factor = self.patch * self.merge
        h, w = round(height / factor) * factor, round(width / factor) * factor
        if h * w > self.max_pixels:
            beta = math.sqrt(height * width / self.max_pixels)
            h = max(factor, math.floor(height / beta / factor) * factor)
            w = max(factor, math.floor(width / beta / factor) * factor)
        elif h * w < self.min_pixels:
            beta = math.sqrt(self.min_pixels / (height * width))
            h, w = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
        return h, w

    def tokens_per_grid(self, dims: tuple[int, int] | None) -> int:
        """Tokens of ``temporal`` frames of size ``dims`` (unknown: the most a frame can cost)."""
        if dims is None:
            return max(1, self.max_pixels // (self.patch * self.merge) ** 2)
        h, w = self.frame_size(*dims)
        return (h // self.patch) * (w // self.patch) // self.merge**2

    def shrink(self, rgb: np.ndarray) -> np.ndarray:
        """An [H, W, 3] frame the processor would make smaller, made smaller now.

        Usually to the processor's own target, the way the processor resizes (torchvision, its resample,
        antialiased): its resize is then a no-op and the result is the same as before. A target below
        ``min_pixels`` (``--video-max-pixels`` under 131072 makes both limits equal) would be enlarged again
        by the processor, so such a frame is brought to about twice the target's side instead, which the
        processor then takes to the same target: memory stays bounded, the pixels differ by one resampling.
        """
        height, width = rgb.shape[:2]
        if max(height, width) > 200 * min(height, width):
            return rgb  # the processor refuses this aspect ratio itself, in its own words
        h, w = self.frame_size(height, width)
        if h * w >= height * width:
            return rgb
        if h * w < self.min_pixels:
            size = self._between(height, width, (h, w))
            return rgb if size is None else self._resize(rgb, *size)
        return self._resize(rgb, h, w)

    def _between(self, height: int, width: int, target: tuple[int, int]) -> tuple[int, int] | None:
        """A size smaller than (height, width) that ``frame_size`` still takes to ``target``."""
        for scale in (2.0, 3.0, 4.0):
            c = scale * math.sqrt(self.max_pixels / (height * width))
            h, w = round(height * c), round(width * c)
            if h * w < height * width and self.frame_size(h, w) == target:
                return h, w
        return None

    def _resize(self, rgb: np.ndarray, h: int, w: int) -> np.ndarray:
        import torch
        import torchvision.transforms.v2.functional as tvF

        chw = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)
        out = tvF.resize(chw, [h, w], interpolation=self.interpolation or tvF.InterpolationMode.BICUBIC,
                         antialias=True)
        return out.permute(1, 2, 0).contiguous().numpy()


def _interpolation(resample: Any):
    if resample is None:
        return None
    try:
        from transformers.image_utils import pil_torch_interpolation_mapping
    except ImportError:
        return None
    return pil_torch_interpolation_mapping.get(resample)


def _default_size(processor) -> dict[str, int]:
    """The frame size limits the processor applies when the call names none.

    transformers merges the processor's own defaults over the video processor's (``_merge_kwargs``):
    ``<Processor>Kwargs._defaults`` (4.x; still read in 5.x) above a ``videos_kwargs`` class attribute (5.x).
    A thin wrapper (eval's instruction swap) is looked through.
    """
    inner = [v for v in getattr(processor, "__dict__", {}).values() if hasattr(v, "video_processor")]
    for obj in (processor, *inner):
        for kwargs_cls in (getattr(obj, "valid_processor_kwargs", None),
                           getattr(sys.modules.get(type(obj).__module__), f"{type(obj).__name__}Kwargs", None)):
            size = (getattr(kwargs_cls, "_defaults", None) or {}).get("videos_kwargs", {}).get("size")
            if size:
                return dict(size)
    attr = getattr(processor, "videos_kwargs", None)
    if isinstance(attr, dict) and attr.get("size"):
        return dict(attr["size"])
    size = processor.video_processor.size
    keys = ("shortest_edge", "longest_edge", "min_pixels", "max_pixels")
    return {k: size[k] if isinstance(size, dict) else getattr(size, k, None) for k in keys
            if (size.get(k) if isinstance(size, dict) else getattr(size, k, None))}


@dataclass(frozen=True)
class Budget:
    """What a stratum's media cost in tokens as a function of the window, for one row."""

    base: int  # tokens besides the media tokens (the prompt, the answer, span markers)
    hop: int  # audio samples per mel frame; 0: no audio in this stratum
    n_window: int
    fps: float  # video frames per second; 0: no video in this stratum
    temporal: int
    per_grid: int
    audio_cap: int | None = None  # samples of a clip the processor keeps (None: all), see ``audio_sample_cap``

    def tokens(self, seconds: float) -> int:
        """Sequence length of a row whose media are at least ``seconds`` long, cut at ``seconds``."""
        n = self.base
        if self.hop:
            samples = int(seconds * SAMPLE_RATE)
            if self.audio_cap is not None:
                samples = min(samples, self.audio_cap)
            n += audio_tokens(samples // self.hop, self.n_window)
        if self.fps:
            frames = math.floor(seconds * self.fps) + 1  # sampled at 0, 1/fps, ... while t < seconds
            n += -(-frames // self.temporal) * self.per_grid
        return n

    def window(self, max_seq_len: int, cap: float | None) -> float:
        """The longest window (in 1/100 s steps) whose tokens fit ``max_seq_len``, at most ``cap`` seconds.

        Audio alone past what the processor keeps adds nothing: the window is then that length exactly.
        """
        step = 0.01
        if not self.fps and self.audio_cap is not None:
            kept = self.audio_cap / SAMPLE_RATE
            if (cap is None or kept <= cap) and self.tokens(kept) <= max_seq_len:
                return kept

        def fits(k: int) -> bool:
            return self.tokens((k + 0.5) * step) <= max_seq_len

        if cap is not None:
            hi = max(0, math.floor(cap / step - 0.5))
            if fits(hi):
                return (hi + 0.5) * step
        else:
            hi = 100
            while fits(hi):
                hi *= 2
        lo = -1  # fits(lo) taken as true, fits(hi) false
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if fits(mid) else (lo, mid)
        return max((lo + 0.5) * step, MIN_SECONDS)


def text_tokens(processor, text: str) -> int:
    """Tokens of the rendered prompt before the processor expands its media placeholder."""
    return len(processor.tokenizer(text)["input_ids"])


def budget(processor, stratum: str, text: str, video: Path | None, fps: float,
           geometry: VideoGeometry | None) -> Budget:
    """The token cost of a row of ``stratum`` whose rendered prompt is ``text``.

    The prompt holds one placeholder that the processor replaces by the media tokens (S3: by the
    interleaved audio and video tokens between ``<|audio_start|>`` and ``<|audio_end|>``, two more).
    """
    base = text_tokens(processor, text) - 1 + (2 if stratum == "S3" else 0)
    audio = stratum in ("S1", "S3")
    hop = int(getattr(processor.feature_extractor, "hop_length", 160)) if audio else 0
    n_window = int(getattr(processor, "n_window", 50) or 50)
    cap = audio_sample_cap(processor) if audio else None
    if stratum == "S1" or geometry is None:
        return Budget(base, hop, n_window, 0.0, 1, 0, cap)
    dims = video_dimensions(video) if video is not None else None
    return Budget(base, hop, n_window, fps, geometry.temporal, geometry.tokens_per_grid(dims), cap)


_AUDIO_CAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def audio_sample_cap(processor) -> int | None:
    """Samples of one clip the processor keeps, None for all of it.

    transformers 4.x lets the Whisper feature extractor truncate every clip to its ``n_samples`` (30 s);
    5.x passes ``truncation=False``. Asked of the processor itself, once: 30 s of silence and one more second.
    """
    try:
        return _AUDIO_CAPS[processor]
    except (KeyError, TypeError):
        pass
    fe = processor.feature_extractor
    n, hop = int(getattr(fe, "n_samples", 0) or 0), int(getattr(fe, "hop_length", 160))
    cap = None
    if n:
        probe = np.zeros(n + SAMPLE_RATE, np.float32)
        try:
            out = processor(text=[processor.audio_token], audio=[probe], return_tensors="pt", padding=True,
                            audio_kwargs={"sampling_rate": SAMPLE_RATE})
            kept = int(out["feature_attention_mask"].sum())
        except (AttributeError, KeyError, TypeError, ValueError, RuntimeError):
            kept = probe.size // hop  # a processor that cannot say: the window alone bounds the sound
        cap = kept * hop if kept < probe.size // hop else None
    with contextlib.suppress(TypeError):
        _AUDIO_CAPS[processor] = cap
    return cap


def audio_seconds_cap(processor) -> float | None:
    """``audio_sample_cap`` in seconds: where to stop decoding a clip's sound even inside a longer window."""
    cap = audio_sample_cap(processor)
    return None if cap is None else cap / SAMPLE_RATE


def window_seconds(processor, stratum: str, text: str, video: Path | None, fps: float, max_seq_len: int,
                   cap: float | None, geometry: VideoGeometry | None) -> float:
    """Seconds of media to decode for one row: all that ``max_seq_len`` can hold, at most ``cap``."""
    return budget(processor, stratum, text, video, fps, geometry).window(max_seq_len, cap)

