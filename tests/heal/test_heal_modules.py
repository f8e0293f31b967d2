"""The module set healing trains: exactly the thinker's routers and kept experts, counted from the headers."""

from __future__ import annotations

import re

import pytest
import torch

from reap_omni.heal.modules import RELATIVE_STEP, count_modules, default_learning_rate, trainable_regex, weight_rms
from reap_omni.model.preflight import check_model


@pytest.fixture(scope="module")
def pruned_model(heal_models):
    from transformers import Qwen3OmniMoeForConditionalGeneration

    return Qwen3OmniMoeForConditionalGeneration.from_pretrained(heal_models[1], dtype="float32")


def test_regex_selects_the_thinker_routers_and_experts_only(pruned_model):
    rx = re.compile(trainable_regex("qwen3_omni_moe"))
    names = [n for n, _ in pruned_model.named_parameters()]
    picked = [n for n in names if rx.match(n)]
    moe = [n for n in names if n.startswith("thinker.") and re.search(r"\.layers\.\d+\.mlp\.(gate|experts)\b", n)]
    assert picked == moe and picked  # every router and expert tensor of the thinker, nothing else
    assert {n.split(".mlp.")[1].split(".")[0] for n in picked} == {"gate", "experts"}
    assert not any(n.startswith(("talker.", "code2wav.")) for n in picked)  # the talker's MoE stays frozen
    assert not any(p in n for n in picked for p in ("self_attn", "embed", "audio_tower", "visual", "lm_head"))
    assert trainable_regex("qwen3_omni_moe_thinker").startswith("^model\\.")


def test_counts_from_headers_equal_the_loaded_parameters(heal_models, pruned_model):
    counts = count_modules(check_model(heal_models[1], "thinker"))
    rx = re.compile(trainable_regex("qwen3_omni_moe"))
    params = dict(pruned_model.named_parameters())
    assert counts.trainable == sum(p.numel() for n, p in params.items() if rx.match(n))
    assert counts.thinker == sum(p.numel() for n, p in params.items() if n.startswith("thinker."))
    assert counts.total == sum(p.numel() for p in params.values())
    assert counts.layers == 4 and 0 < counts.share_of_thinker < 1
    assert f"{counts.trainable:,} parameters trained" in counts.describe()


def test_default_learning_rate_is_a_share_of_the_trainable_weights_rms(heal_models, pruned_model):
    facts = check_model(heal_models[1], "thinker")
    rx = re.compile(trainable_regex("qwen3_omni_moe"))
    layer0 = [p for n, p in pruned_model.named_parameters() if rx.match(n) and ".layers.0." in n]
    want = torch.cat([p.detach().flatten() for p in layer0]).square().mean().sqrt().item()
    assert weight_rms(facts, max_tensors=100) == pytest.approx(want, rel=1e-5)  # float32, read from the files
    sample = weight_rms(facts)  # the default reads a few tensors only
    assert sample == pytest.approx(want, rel=0.05)
    assert default_learning_rate(facts) == pytest.approx(RELATIVE_STEP * sample, rel=0.05)  # 2 significant digits
