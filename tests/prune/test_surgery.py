"""Checkpoint surgery: renumbered keys, sliced routers, untouched talker, and exact routing equivalence."""

from __future__ import annotations

import json

import pytest
import torch
from model_helpers import mask_routing, stratum_inputs
from safetensors import safe_open

from reap_omni.errors import ReapOmniError
from reap_omni.model.moe import find_moe_blocks
from reap_omni.prune.surgery import prune_checkpoint

KEPT = {0: [1, 3, 4, 6], 1: [0, 2, 5, 7], 2: [0, 1, 2, 3], 3: [2, 4, 6, 7]}


def _all_tensors(folder):
    out = {}
    for f in sorted(folder.glob("*.safetensors")):
        with safe_open(f, framework="pt") as st:
            for k in st.keys():  # noqa: SIM118 - safe_open is not iterable
                out[k] = st.get_tensor(k)
    return out


@pytest.fixture(scope="module")
def pruned(tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("pruned") / "model"
    report = prune_checkpoint(tiny_ckpt, out, "thinker", KEPT)
    return out, report


def test_saved_keys_are_renumbered_and_router_rows_sliced(tiny_ckpt, pruned):
    out, report = pruned
    before, after = _all_tensors(tiny_ckpt), _all_tensors(out)
    for layer, kept in KEPT.items():
        head = f"thinker.model.layers.{layer}.mlp."
        experts = sorted({int(k[len(head) + 8:].split(".")[0]) for k in after if k.startswith(head + "experts.")})
        assert experts == list(range(len(kept)))
        for new, old in enumerate(kept):
            for proj in ("gate_proj", "up_proj", "down_proj"):
                new_w, old_w = after[f"{head}experts.{new}.{proj}.weight"], before[f"{head}experts.{old}.{proj}.weight"]
                assert torch.equal(new_w, old_w)
        assert torch.equal(after[head + "gate.weight"], before[head + "gate.weight"][kept])
    talker = [k for k in before if k.startswith(("talker.", "code2wav."))]
    assert talker and all(torch.equal(after[k], before[k]) for k in talker)
    assert report.tensors_dropped == 4 * 4 * 3
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["thinker_config"]["text_config"]["num_experts"] == 4
    talker_cfg = cfg["talker_config"]["text_config"]
    assert talker_cfg.get("num_experts", talker_cfg.get("num_local_experts")) == 8
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == set(after)
    # the tokenizer, chat template and processor files (whichever this transformers saved) come along
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        assert (out / name).is_file(), name
    assert (out / "processor_config.json").is_file() or (out / "preprocessor_config.json").is_file()
    carried = {f.name for f in tiny_ckpt.iterdir() if f.is_file() and not f.name.endswith(".safetensors")
               and f.name not in ("model.safetensors.index.json", "config.json")}
    assert carried <= {f.name for f in out.iterdir()}


def test_pruned_model_matches_masked_original(tiny_loaded, manifests, pruned):
    from transformers import Qwen3OmniMoeForConditionalGeneration

    original, processor = tiny_loaded
    out, _ = pruned
    model, info = Qwen3OmniMoeForConditionalGeneration.from_pretrained(out, dtype="float32", output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    for block in find_moe_blocks(model.thinker):
        assert block.num_experts == 4
    handles = [mask_routing(b, KEPT[b.layer]) for b in find_moe_blocks(original.thinker)]
    try:
        for stratum in ("S1", "S2", "S3"):
            inputs = stratum_inputs(processor, manifests, stratum)
            with torch.no_grad():
                got = model.thinker(**inputs, use_cache=False).logits
                want = original.thinker(**inputs, use_cache=False).logits
            keep = inputs["attention_mask"].bool()
            torch.testing.assert_close(got[keep], want[keep], rtol=1e-4, atol=1e-4)
        with torch.no_grad():
            plain = original.thinker(**inputs, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    with torch.no_grad():
        unmasked = original.thinker(**inputs, use_cache=False).logits
    assert torch.equal(plain, want) and not torch.allclose(unmasked[keep], got[keep], atol=1e-3)


def test_surgery_is_atomic_and_refuses_existing_output(tiny_ckpt, tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(ReapOmniError, match="already exists"):
        prune_checkpoint(tiny_ckpt, out, "thinker", KEPT)
    bad = dict(KEPT)
    del bad[3]
    with pytest.raises(ReapOmniError, match="layer 3"):
        prune_checkpoint(tiny_ckpt, tmp_path / "other", "thinker", bad)
    assert not (tmp_path / "other").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_talker_surgery_leaves_thinker_identical(tiny_ckpt, tmp_path):
    from transformers import Qwen3OmniMoeForConditionalGeneration

    out = tmp_path / "talker-pruned"
    prune_checkpoint(tiny_ckpt, out, "talker", {0: [0, 5, 6], 1: [1, 2, 7]})
    before, after = _all_tensors(tiny_ckpt), _all_tensors(out)
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("thinker."))
    assert after["talker.model.layers.1.mlp.gate.weight"].shape[0] == 3
    _, info = Qwen3OmniMoeForConditionalGeneration.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"]


def test_surgery_from_the_callers_description_leaves_it_as_read(tiny_ckpt, pruned, tmp_path):
    """``prune`` passes its ``check_model`` result down: the same checkpoint is written, and the description
    (config included) is not edited by the surgery."""
    import copy

    from reap_omni.model.preflight import check_model

    info = check_model(tiny_ckpt, "thinker")
    before = copy.deepcopy(info.config)
    report = prune_checkpoint(tiny_ckpt, tmp_path / "model", "thinker", KEPT, info=info)
    assert info.config == before and info.num_experts == report.num_experts == 8
    assert json.loads((tmp_path / "model" / "config.json").read_text()) == json.loads(
        (pruned[0] / "config.json").read_text())
    assert _all_tensors(tmp_path / "model").keys() == _all_tensors(pruned[0]).keys()
