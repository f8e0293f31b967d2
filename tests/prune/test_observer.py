"""REAP saliency against an independent per-token reference, and what each stratum really feeds."""

from __future__ import annotations

import pytest
import torch
from model_helpers import reference_saliency, stratum_inputs

from reap_omni.model.moe import find_moe_blocks
from reap_omni.model.tiny import TOKEN_IDS
from reap_omni.prune.observer import ReapObserver

AUDIO_ID, VIDEO_ID = TOKEN_IDS["<|audio_pad|>"], TOKEN_IDS["<|video_pad|>"]


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_saliency_equals_bruteforce_reference(tiny_loaded, manifests, stratum):
    model, processor = tiny_loaded
    thinker = model.thinker
    blocks = find_moe_blocks(thinker)
    inputs = stratum_inputs(processor, manifests, stratum)
    captured: dict[int, torch.Tensor] = {}
    handles = [b.module.register_forward_pre_hook(lambda m, a, i=i: captured.__setitem__(i, a[0].detach()))
               for i, b in enumerate(blocks)]
    try:
        with ReapObserver(blocks) as obs, torch.no_grad():
            obs.set_attention_mask(inputs["attention_mask"])
            thinker(**inputs, use_cache=False)
            stats = obs.stats()
    finally:
        for h in handles:
            h.remove()
    mask = inputs["attention_mask"]
    assert (mask == 0).any(), "the batch should contain left padding, so that masking is exercised"
    for i, block in enumerate(blocks):
        ref_sums, ref_counts = reference_saliency(block, captured[i], mask)
        assert torch.equal(stats.counts[i], ref_counts)
        ref_s = torch.where(ref_counts > 0, ref_sums / ref_counts.clamp(min=1), torch.zeros_like(ref_sums))
        torch.testing.assert_close(stats.saliency()[i], ref_s, rtol=1e-5, atol=1e-5)
        assert int(stats.tokens[i]) == int(mask.sum())
        assert int(stats.counts[i].sum()) == block.top_k * int(mask.sum())


def test_strata_feed_different_modality_tokens(tiny_loaded, manifests):
    _model, processor = tiny_loaded
    s1, s2, s3 = (stratum_inputs(processor, manifests, s) for s in ("S1", "S2", "S3"))

    def count(inputs, tok):
        return int((inputs["input_ids"] == tok).sum())

    assert count(s1, AUDIO_ID) > 0 and count(s1, VIDEO_ID) == 0
    assert "input_features" in s1 and "pixel_values_videos" not in s1
    assert count(s2, VIDEO_ID) > 0 and count(s2, AUDIO_ID) == 0
    assert "pixel_values_videos" in s2 and "input_features" not in s2
    assert count(s3, VIDEO_ID) > 0 and count(s3, AUDIO_ID) > 0
    assert "pixel_values_videos" in s3 and "input_features" in s3 and s3["use_audio_in_video"] is True
    # S3 interleaves: audio tokens sit between video tokens inside one vision span.
    row = s3["input_ids"][1].tolist()  # the 2 s clip: two temporal grids, audio between them
    first_v, last_v = row.index(VIDEO_ID), len(row) - 1 - row[::-1].index(VIDEO_ID)
    assert AUDIO_ID in row[first_v:last_v]
    # The same video costs the same number of video tokens in S2 and S3 (its audio adds, never replaces).
    assert count(s3, AUDIO_ID) == int(
        sum(_audio_tokens(n) for n in s3["feature_attention_mask"].sum(-1).tolist())
    )


def _audio_tokens(mel_frames: int) -> int:
    """Qwen3-Omni's audio token count for ``mel_frames`` log-mel frames (about 13 per second)."""
    rem = mel_frames % 100
    return ((((rem - 1) // 2 + 1 - 1) // 2 + 1 - 1) // 2 + 1) * (rem > 0) + (mel_frames // 100) * 13


def test_observer_counts_routing_frequency(tiny_loaded, manifests):
    model, processor = tiny_loaded
    blocks = find_moe_blocks(model.thinker)
    inputs = stratum_inputs(processor, manifests, "S1")
    with ReapObserver(blocks) as obs, torch.no_grad():
        obs.set_attention_mask(inputs["attention_mask"])
        model.thinker(**inputs, use_cache=False)
        freq = obs.stats().frequency()
    torch.testing.assert_close(freq.sum(dim=1), torch.full((len(blocks),), float(blocks[0].top_k), dtype=freq.dtype))


@pytest.fixture
def experts_implementation(request, tiny_loaded):
    """Switch the tiny model's experts kernel for one test (``eager``, ``grouped_mm``, ``batched_mm``)."""
    model, _processor = tiny_loaded
    if not hasattr(model, "set_experts_implementation"):
        pytest.skip("fused experts kernels are transformers 5.x; 4.57 has one module per expert")
    experts = find_moe_blocks(model.thinker)[0].module.experts
    before = experts.config._experts_implementation  # (get_experts_implementation is newer than 5.6)
    model.set_experts_implementation(request.param)
    assert experts.config._experts_implementation == request.param
    yield request.param
    model.set_experts_implementation(before)


def _thinker_logits(thinker, inputs) -> torch.Tensor:
    with torch.no_grad():
        return thinker(**inputs, use_cache=False).logits


@pytest.mark.parametrize("experts_implementation", ["grouped_mm", "eager", "batched_mm"], indirect=True)
@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_observed_forward_equals_plain_forward(tiny_loaded, manifests, stratum, experts_implementation):
    """The observer computes each routed expert output once and reuses it for the block's output, so it must
    reproduce the model's own computation bit for bit (same kernels, same order of operations)."""
    model, processor = tiny_loaded
    thinker = model.thinker
    blocks = find_moe_blocks(thinker)
    inputs = stratum_inputs(processor, manifests, stratum)
    plain = _thinker_logits(thinker, inputs)
    with ReapObserver(blocks) as obs:
        assert all("forward" in vars(b.module.experts) for b in blocks), "the instrumented forward is in place"
        obs.set_attention_mask(inputs["attention_mask"])
        observed = _thinker_logits(thinker, inputs)
        stats = obs.stats()
    assert all("forward" not in vars(b.module.experts) for b in blocks), "close() restores the model's forward"
    assert observed.dtype == plain.dtype == torch.float32
    torch.testing.assert_close(observed, plain, rtol=0, atol=0)
    assert torch.equal(_thinker_logits(thinker, inputs), plain)
    assert int(stats.counts.sum()) == len(blocks) * blocks[0].top_k * int(inputs["attention_mask"].sum())


def _saliency_and_reference(thinker, inputs):
    blocks = find_moe_blocks(thinker)
    captured: dict[int, torch.Tensor] = {}
    handles = [b.module.register_forward_pre_hook(lambda m, a, i=i: captured.__setitem__(i, a[0].detach()))
               for i, b in enumerate(blocks)]
    try:
        with ReapObserver(blocks) as obs, torch.no_grad():
            obs.set_attention_mask(inputs["attention_mask"])
            thinker(**inputs, use_cache=False)
            stats = obs.stats()
    finally:
        for h in handles:
            h.remove()
    refs = [reference_saliency(b, captured[i], inputs["attention_mask"]) for i, b in enumerate(blocks)]
    return stats, refs


def _assert_matches_reference(stats, refs):
    for i, (ref_sums, ref_counts) in enumerate(refs):
        assert torch.equal(stats.counts[i], ref_counts)
        ref_s = torch.where(ref_counts > 0, ref_sums / ref_counts.clamp(min=1), torch.zeros_like(ref_sums))
        torch.testing.assert_close(stats.saliency()[i], ref_s, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("experts_implementation", ["eager", "batched_mm"], indirect=True)
def test_saliency_equals_reference_with_other_kernels(tiny_loaded, manifests, experts_implementation):
    model, processor = tiny_loaded
    _assert_matches_reference(*_saliency_and_reference(model.thinker, stratum_inputs(processor, manifests, "S3")))


def test_unmirrored_kernel_falls_back_to_recomputing(tiny_loaded, manifests, monkeypatch):
    """An experts kernel the observer has no instrumented copy of still runs unchanged, and is scored by
    recomputing the routed experts' outputs."""
    import reap_omni.prune.observer as observer_mod

    monkeypatch.setattr(observer_mod, "_mirrored_kernel", lambda experts: None)
    model, processor = tiny_loaded
    inputs = stratum_inputs(processor, manifests, "S3")
    plain = _thinker_logits(model.thinker, inputs)
    stats, refs = _saliency_and_reference(model.thinker, inputs)
    _assert_matches_reference(stats, refs)
    with ReapObserver(find_moe_blocks(model.thinker)) as obs:
        obs.set_attention_mask(inputs["attention_mask"])
        assert torch.equal(_thinker_logits(model.thinker, inputs), plain)
