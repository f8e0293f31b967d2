"""--tokens all|media: which tokens count towards S, recorded in the scores' metadata."""

from __future__ import annotations

import json

import pytest
import torch
from model_helpers import F32, TINY_OPTS, reference_saliency

from reap_omni.cli import run
from reap_omni.model.info import media_token_ids
from reap_omni.model.inputs import fit_sample, load_samples, media_token_mask
from reap_omni.model.moe import find_moe_blocks
from reap_omni.model.tiny import TOKEN_IDS
from reap_omni.prune.calibration import CalibrationSettings, calibrate
from reap_omni.prune.observer import ReapObserver
from reap_omni.prune.scores import STRATA

FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}
SPAN = {TOKEN_IDS[t] for t in ("<|audio_start|>", "<|audio_pad|>", "<|audio_end|>", "<|vision_start|>",
                                "<|video_pad|>", "<|vision_end|>", "<|image_pad|>")}


def test_media_mask_keeps_the_modality_spans_and_drops_padding():
    a_s, a, a_e = TOKEN_IDS["<|audio_start|>"], TOKEN_IDS["<|audio_pad|>"], TOKEN_IDS["<|audio_end|>"]
    ids = torch.tensor([[10, 11, a_s, a, a, a_e, 12, 0], [10, a_s, a, a_e, 13, 14, 15, 16]])
    att = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 0], [1] * 8])
    mask = media_token_mask(ids, att, sorted(SPAN))
    assert mask.tolist() == [[0, 0, 1, 1, 1, 1, 0, 0], [0, 1, 1, 1, 0, 0, 0, 0]] and mask.dtype == att.dtype


def test_media_token_ids_come_from_the_model_config(tiny_loaded):
    model, _ = tiny_loaded
    assert set(media_token_ids(model.thinker.config)) == SPAN


@pytest.fixture(scope="module")
def both_policies(tiny_ckpt, manifests):
    samples = {s: load_samples(manifests[f], s, 100) for s, f in FILES.items()}
    out = {}
    for policy in ("all", "media"):
        settings = CalibrationSettings(model_path=str(tiny_ckpt), placement=F32, inputs=TINY_OPTS, tokens=policy)
        out[policy], _ = calibrate(settings, samples, lambda m: None)
    return samples, out


def test_media_policy_counts_only_media_tokens(both_policies, tiny_loaded):
    samples, scores = both_policies
    _model, processor = tiny_loaded
    media = scores["media"]
    assert media.meta["tokens"] == "media" and "media tokens only" in media.meta["token_policy"]
    assert scores["all"].meta["tokens"] == "all"
    for s in STRATA:
        n_media = n_all = 0
        for sample in samples[s]:
            inputs = fit_sample(processor, sample, s, TINY_OPTS)
            n_media += int(torch.isin(inputs["input_ids"], torch.tensor(sorted(SPAN))).sum())
            n_all += int(inputs["attention_mask"].sum())
        assert media.strata[s].tokens.tolist() == [n_media] * 4
        assert scores["all"].strata[s].tokens.tolist() == [n_all] * 4 and n_all > n_media > 0
        assert int(media.strata[s].counts.sum()) == 4 * media.top_k * n_media
        assert not torch.allclose(media.strata[s].saliency(), scores["all"].strata[s].saliency())


def test_media_policy_saliency_equals_the_reference_on_media_tokens(tiny_loaded, manifests):
    model, processor = tiny_loaded
    thinker = model.thinker
    sample = load_samples(manifests["mixed"], "S3", 1)[0]
    inputs = fit_sample(processor, sample, "S3", TINY_OPTS)
    mask = media_token_mask(inputs["input_ids"], inputs["attention_mask"], media_token_ids(thinker.config))
    blocks = find_moe_blocks(thinker)
    captured = {}
    handles = [b.module.register_forward_pre_hook(lambda m, a, i=i: captured.__setitem__(i, a[0].detach()))
               for i, b in enumerate(blocks)]
    try:
        with ReapObserver(blocks) as obs, torch.no_grad():
            obs.set_attention_mask(mask)
            thinker(**inputs, use_cache=False)
            stats = obs.stats()
    finally:
        for h in handles:
            h.remove()
    for i, block in enumerate(blocks):
        ref_sums, ref_counts = reference_saliency(block, captured[i], mask)
        assert torch.equal(stats.counts[i], ref_counts)
        torch.testing.assert_close(stats.sums[i], ref_sums, rtol=1e-5, atol=1e-6)


def test_cli_records_the_token_policy(tiny_ckpt, manifests, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert run(["prune", "--model-path", str(tiny_ckpt), "--audio-data", str(manifests["audio"]), "--video-data",
                str(manifests["video"]), "--mixed-data", str(manifests["mixed"]), "--dry-run", "--tokens", "media",
                "--calibration-samples", "1", "--video-max-pixels", "4096", "--scores-out", str(out), "-q"]) == 0
    assert capsys.readouterr().err == ""  # -q: errors only
    meta = json.loads(out.read_text())["meta"]
    assert meta["tokens"] == "media" and meta["token_policy"].startswith("media tokens only")
