"""Scores do not depend on --batch-size: each sample is processed alone, then collated."""

from __future__ import annotations

import pytest
import torch
from model_helpers import F32, TINY_OPTS

from reap_omni.model.inputs import collate, fit_sample, iter_batches, load_samples
from reap_omni.prune.calibration import CalibrationSettings, calibrate
from reap_omni.prune.scores import STRATA, select

FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


@pytest.fixture(scope="module")
def by_batch_size(tiny_ckpt, manifests3):
    samples = {s: load_samples(manifests3[f], s, 100) for s, f in FILES.items()}
    out = {}
    for b in (1, 2, 3):
        settings = CalibrationSettings(model_path=str(tiny_ckpt), placement=F32, inputs=TINY_OPTS, batch_size=b)
        out[b], _ = calibrate(settings, samples, lambda m: None)
    return out


@pytest.mark.parametrize("batch_size", [2, 3])
def test_scores_do_not_depend_on_batch_size(by_batch_size, batch_size):
    one, other = by_batch_size[1], by_batch_size[batch_size]
    for s in STRATA:
        assert torch.equal(one.strata[s].counts, other.strata[s].counts), s
        assert torch.equal(one.strata[s].tokens, other.strata[s].tokens), s
        torch.testing.assert_close(other.strata[s].saliency(), one.strata[s].saliency(), rtol=1e-6, atol=1e-12)
    assert torch.equal(select(one, 1.0, 1.0, 0.5).kept, select(other, 1.0, 1.0, 0.5).kept)
    assert other.meta["batch_size"] == batch_size


@pytest.mark.parametrize("stratum", ["S1", "S3"])
def test_a_clip_gets_the_same_audio_features_whatever_its_batch(tiny_loaded, manifests3, stratum):
    """The mechanism: a clip's valid feature frames in a batch are its features when processed alone."""
    _model, processor = tiny_loaded
    samples = load_samples(manifests3[FILES[stratum]], stratum, 3)
    (batch, chunk), = list(iter_batches(processor, samples, stratum, 3, TINY_OPTS))
    assert len(chunk) == 3
    mask = batch["feature_attention_mask"].bool()
    for i, sample in enumerate(samples):
        alone = fit_sample(processor, sample, stratum, TINY_OPTS)
        n = int(alone["feature_attention_mask"].sum())
        assert int(mask[i].sum()) == n
        assert torch.equal(batch["input_features"][i][:, mask[i]], alone["input_features"][0][:, :n])
    # and every text row is the sample's own tokens, padded on the tokenizer's side
    side = processor.tokenizer.padding_side
    for i, sample in enumerate(samples):
        ids = fit_sample(processor, sample, stratum, TINY_OPTS)["input_ids"][0]
        row = batch["input_ids"][i][batch["attention_mask"][i].bool()]
        assert torch.equal(row, ids)
        first_real = int(batch["attention_mask"][i].nonzero()[0])
        assert (first_real == 0) == (side == "right" or len(ids) == batch["input_ids"].shape[1])


def test_collate_pads_text_on_the_tokenizers_side():
    class Tok:
        padding_side = "left"
        pad_token_id = 9

    class Proc:
        tokenizer = Tok()

    a = {"input_ids": torch.tensor([[1, 2, 3]]), "attention_mask": torch.ones(1, 3, dtype=torch.int64),
         "video_grid_thw": torch.tensor([[1, 2, 2]]), "use_audio_in_video": True}
    b = {"input_ids": torch.tensor([[4]]), "attention_mask": torch.ones(1, 1, dtype=torch.int64),
         "video_grid_thw": torch.tensor([[2, 2, 2]]), "use_audio_in_video": True}
    out = collate([a, b], Proc())
    assert out["input_ids"].tolist() == [[1, 2, 3], [9, 9, 4]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert out["video_grid_thw"].tolist() == [[1, 2, 2], [2, 2, 2]] and out["use_audio_in_video"] is True
    assert collate([a], Proc()) is a


def test_the_audio_tower_encodes_a_pack_clip_by_clip(tiny_ckpt, manifests3):
    """The thinker packs a batch's clips into one encoder call; each clip's rows are what it gives alone
    (transformers 4.57's encoder would otherwise attend across the clips of a pack)."""
    from reap_omni.model.audio_per_clip import run_audio_per_clip
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.load import load_for_scoring

    root, _model = load_for_scoring(ModelInfo.read(tiny_ckpt), F32)
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_ckpt)
    samples = load_samples(manifests3["audio"], "S1", 3)
    (batch, _chunk), = list(iter_batches(processor, samples, "S1", 3, TINY_OPTS))
    mask = batch["feature_attention_mask"].bool()
    packed = batch["input_features"].permute(0, 2, 1)[mask].permute(1, 0)
    lens = mask.sum(-1)
    tower = next(m for n, m in root.named_modules() if n.endswith("audio_tower"))  # 5.x nests it under .model
    alone = type(tower).forward  # the encoder itself, without the wrapper
    with torch.inference_mode():
        got = tower(packed, feature_lens=lens).last_hidden_state
        clips = packed.split(lens.tolist(), dim=-1)
        want = torch.cat([alone(tower, c, feature_lens=lens[i:i + 1]).last_hidden_state for i, c in enumerate(clips)])
    assert torch.equal(got, want)
    assert run_audio_per_clip(root) == 0  # already wrapped: not wrapped twice
