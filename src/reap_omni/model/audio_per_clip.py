"""Run the audio encoder one clip at a time, so that a clip's features never depend on its batch-mates.

The thinker packs a batch's audio into one ``(mel, frames)`` tensor plus ``feature_lens`` and calls the audio
tower once. transformers 4.57's audio encoder then attends across every clip of the pack (its layers get no
block mask), so a clip's encoder output, and with it the S1/S3 expert statistics, changed with
``--batch-size``; 5.x masks per window and gives the same result either way. Splitting the pack by
``feature_lens`` and calling the encoder once per clip gives every transformers version the result of the
clip on its own, without asking which version is installed. The audio encoder holds ~2% of the real
thinker's parameters and no experts, so the extra calls cost little.

The wrapper replaces the tower's ``forward`` on the instance, around whatever ``forward`` is there
(accelerate's device hooks included); forward hooks (``encoder_replay``) still see one call per batch.
"""

from __future__ import annotations

from typing import Any

AUDIO_TOWER = "audio_tower"


def _merge(outputs: list[Any]) -> Any:
    """One output for the whole pack: per-clip rows concatenated, in clip order."""
    import torch

    first = outputs[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(outputs, dim=0)
    if isinstance(first, dict):  # transformers ModelOutput (BaseModelOutput / ...WithPooling)
        return type(first)(**{k: _merge([o[k] for o in outputs]) for k in first})
    if isinstance(first, tuple):
        return tuple(_merge(list(parts)) for parts in zip(*outputs, strict=True))
    return first


def _per_clip(forward):
    def call(input_features, feature_lens=None, *args, **kwargs):
        if feature_lens is None or args or feature_lens.numel() <= 1:
            return forward(input_features, feature_lens, *args, **kwargs)
        lens = [int(n) for n in feature_lens.reshape(-1).tolist()]
        if sum(lens) != input_features.shape[-1]:  # not the packed layout: leave it to the encoder
            return forward(input_features, feature_lens, *args, **kwargs)
        clips = input_features.split(lens, dim=-1)
        outs = [forward(clip, feature_lens.reshape(-1)[i:i + 1], **kwargs) for i, clip in enumerate(clips)]
        return _merge(outs)

    call.__reap_omni_per_clip__ = True
    return call


def run_audio_per_clip(root) -> int:
    """Make every audio tower under ``root`` encode packed batches clip by clip; returns how many it wrapped."""
    wrapped = 0
    for name, module in root.named_modules():
        if name.rsplit(".", 1)[-1] != AUDIO_TOWER or getattr(module.forward, "__reap_omni_per_clip__", False):
            continue
        module.forward = _per_clip(module.forward)
        wrapped += 1
    return wrapped
