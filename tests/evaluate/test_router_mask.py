"""Router masking evaluates a selection on the original model exactly as the pruned checkpoint would run."""

from __future__ import annotations

import pytest
import torch
from model_helpers import stratum_inputs

from reap_omni.errors import ReapOmniError
from reap_omni.evaluate.encoder_replay import EncoderReplay
from reap_omni.evaluate.metrics import answer_positions, log_probs, token_nll
from reap_omni.evaluate.router_mask import RouterMask
from reap_omni.model.inputs import load_samples
from reap_omni.model.moe import find_moe_blocks
from reap_omni.prune.surgery import prune_checkpoint

KEPT = {0: [0, 2, 5, 7], 1: [1, 2, 3, 6], 2: [3, 4, 5, 6], 3: [0, 1, 4, 7]}
FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


@pytest.fixture(scope="module")
def pruned_model(tiny_ckpt, tmp_path_factory):
    from transformers import Qwen3OmniMoeForConditionalGeneration

    out = tmp_path_factory.mktemp("eval-pruned") / "model"
    prune_checkpoint(tiny_ckpt, out, "thinker", KEPT)
    return Qwen3OmniMoeForConditionalGeneration.from_pretrained(out, dtype="float32").eval()


def _answer_nll(processor, manifests, stratum, thinker, inputs) -> torch.Tensor:
    samples = load_samples(manifests[FILES[stratum]], stratum, 2)
    positions = answer_positions(processor, samples, stratum, inputs["input_ids"], inputs["attention_mask"])
    with torch.no_grad():
        logits = thinker(**inputs, use_cache=False).logits
    nll = []
    for b, pos in enumerate(positions):
        assert pos.numel() > 0
        nll.append(token_nll(log_probs(logits[b, pos - 1]), inputs["input_ids"][b, pos]))
    return torch.cat(nll)


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_masked_original_equals_pruned_checkpoint(tiny_loaded, manifests, pruned_model, stratum):
    original, processor = tiny_loaded
    inputs = stratum_inputs(processor, manifests, stratum)
    plain = _answer_nll(processor, manifests, stratum, original.thinker, inputs)
    with RouterMask(find_moe_blocks(original.thinker)) as mask:
        mask.set(KEPT)
        masked = _answer_nll(processor, manifests, stratum, original.thinker, inputs)
        mask.set(None)
        unmasked = _answer_nll(processor, manifests, stratum, original.thinker, inputs)
    pruned = _answer_nll(processor, manifests, stratum, pruned_model.thinker, inputs)
    assert (masked - pruned).abs().max() <= 1e-4
    assert abs(float(masked.mean() - pruned.mean())) <= 1e-4
    assert torch.equal(unmasked, plain)  # set(None): the original again
    assert (masked - plain).abs().max() > 1e-3  # the selection does change the model
    # closed: the hooks are gone
    assert torch.equal(_answer_nll(processor, manifests, stratum, original.thinker, inputs), plain)
    assert all(not b.module.gate._forward_hooks for b in find_moe_blocks(original.thinker))


def test_keeping_every_expert_is_bit_identical(tiny_loaded, manifests):
    original, processor = tiny_loaded
    inputs = stratum_inputs(processor, manifests, "S3")
    with torch.no_grad():
        plain = original.thinker(**inputs, use_cache=False).logits
        with RouterMask(find_moe_blocks(original.thinker)) as mask:
            mask.set({layer: range(8) for layer in range(4)})
            assert not mask.active
            same = original.thinker(**inputs, use_cache=False).logits
    assert torch.equal(plain, same)


def test_bad_selections_are_refused(tiny_loaded):
    original, _ = tiny_loaded
    with RouterMask(find_moe_blocks(original.thinker)) as mask:
        with pytest.raises(ReapOmniError, match="no entry for MoE layer 3"):
            mask.set({0: [0, 1], 1: [0, 1], 2: [0, 1]})
        with pytest.raises(ReapOmniError, match="fewer than top-k"):
            mask.set({layer: [3] for layer in range(4)})
        with pytest.raises(ReapOmniError, match="0..7"):
            mask.set({layer: [0, 9] for layer in range(4)})


def test_modulelist_layout_router_logits_are_masked():
    """transformers 4.57's layout: the gate is a Linear whose raw logits the block routes from."""
    gate = torch.nn.Linear(4, 6, bias=False)
    module = torch.nn.Module()
    module.gate = gate
    module.experts = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(6)])
    module.top_k, module.norm_topk_prob = 2, True
    from reap_omni.model.moe import MoeBlock

    block = MoeBlock(0, "model.layers.0.mlp", module)
    x = torch.randn(5, 4)
    with RouterMask([block]) as mask:
        mask.set({0: [1, 4, 5]})
        out = gate(x)
    want = gate(x).clone()
    want[:, [0, 2, 3]] = float("-inf")
    assert torch.equal(out, want)
    assert torch.equal(gate(x), x @ gate.weight.T)


@pytest.mark.parametrize("stratum", ["S1", "S2", "S3"])
def test_replayed_encoders_give_the_plain_forward(tiny_loaded, manifests, stratum):
    original, processor = tiny_loaded
    thinker = original.thinker
    inputs = stratum_inputs(processor, manifests, stratum)
    replay = EncoderReplay(thinker)
    assert {type(m).__name__ for m in replay.modules} == {"Qwen3OmniMoeAudioEncoder", "Qwen3OmniMoeVisionEncoder"}
    ran = []  # the encoders' own layers, seen running
    handles = [sub.register_forward_hook(lambda *_a: ran.append(1))
               for m in replay.modules for sub in m.modules() if isinstance(sub, torch.nn.Linear)]
    try:
        with torch.no_grad():
            plain = thinker(**inputs, use_cache=False).logits
            with replay.record():
                recorded = thinker(**inputs, use_cache=False).logits
            n_ran = len(ran)
            assert n_ran > 0
            replayed = []
            for _ in range(2):  # every replay() starts from the first recorded call again
                with replay.replay():
                    replayed.append(thinker(**inputs, use_cache=False).logits)
            assert len(ran) == n_ran  # the encoders did not run again
            after = thinker(**inputs, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    assert torch.equal(plain, recorded) and all(torch.equal(plain, r) for r in replayed) and torch.equal(plain, after)
    assert all("forward" not in vars(m) for m in replay.modules)  # restored


def test_replay_refuses_a_call_it_did_not_record(tiny_loaded, manifests):
    original, processor = tiny_loaded
    thinker = original.thinker
    replay = EncoderReplay(thinker)
    with torch.no_grad(), replay.record():
        thinker(**stratum_inputs(processor, manifests, "S1"), use_cache=False)
    with torch.no_grad(), replay.replay(), pytest.raises(RuntimeError, match="only 0 outputs were recorded"):
        thinker(**stratum_inputs(processor, manifests, "S2"), use_cache=False)
