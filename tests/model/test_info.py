"""ModelInfo: the checkpoint described once (config, MoE layers, expert key, fingerprint), and Placement per rank."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from reap_omni.errors import ReapOmniError
from reap_omni.model.distributed import Dist
from reap_omni.model.info import ModelInfo
from reap_omni.model.placement import Placement
from reap_omni.model.preflight import check_model


def test_the_description_matches_config_json(tiny_ckpt):
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    text = cfg["thinker_config"]["text_config"]
    info = ModelInfo.read(tiny_ckpt)
    assert (info.component, info.model_type, info.thinker_only, info.prefix) == (
        "thinker", "qwen3_omni_moe", False, "thinker.")
    assert info.text_config == text and info.experts_key == "num_experts"
    assert (info.num_experts, info.top_k) == (text["num_experts"], text["num_experts_per_tok"])
    assert info.layers == [0, 1, 2, 3] and info.load_kwargs() == {"enable_audio_output": False}
    assert info.shards == [] and info.weight_bytes == 0  # config only: no header read
    # the fingerprint is what scores of the current release store as text_config_sha256
    assert info.fingerprint == hashlib.sha256(json.dumps(text, sort_keys=True).encode()).hexdigest()
    declared = cfg.get("dtype", cfg.get("torch_dtype")) or cfg["thinker_config"].get(
        "dtype", cfg["thinker_config"].get("torch_dtype"))
    assert info.dtype == declared


def test_check_model_gives_the_same_description_with_the_shards(tiny_ckpt):
    info, checked = ModelInfo.read(tiny_ckpt), check_model(tiny_ckpt)
    assert (checked.layers, checked.num_experts, checked.fingerprint) == (info.layers, info.num_experts,
                                                                         info.fingerprint)
    shards = sorted(p.name for p in tiny_ckpt.glob("*.safetensors"))
    assert checked.shards == shards
    on_disk = sum(os.path.getsize(tiny_ckpt / s) for s in shards)
    assert 0 < checked.weight_bytes < on_disk  # the tensors, without each shard's header


def test_the_talker_and_a_thinker_only_folder(tiny_ckpt, tmp_path):
    talker = ModelInfo.read(tiny_ckpt, "talker")
    assert talker.prefix == "talker." and talker.load_kwargs() == {"enable_audio_output": True}
    assert talker.fingerprint != ModelInfo.read(tiny_ckpt).fingerprint
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    thinker = {**cfg["thinker_config"], "model_type": "qwen3_omni_moe_thinker"}
    (tmp_path / "config.json").write_text(json.dumps(thinker))
    info = ModelInfo.read(tmp_path)
    assert info.thinker_only and info.prefix == "" and info.load_kwargs() == {}
    assert info.fingerprint == ModelInfo.read(tiny_ckpt).fingerprint  # the same text config
    with pytest.raises(ReapOmniError, match="thinker only"):
        ModelInfo.read(tmp_path, "talker")


def test_a_non_integer_size_is_one_line(tmp_path, tiny_ckpt):
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    cfg["thinker_config"]["text_config"]["num_hidden_layers"] = "four"
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ReapOmniError, match="non-integer size"):
        ModelInfo.read(tmp_path)


def test_a_placement_for_each_rank():
    one = Placement(device="cpu", device_map={"": 0, "thinker.visual": 1}, offload_folder="off/", dtype="bfloat16")
    assert one.for_rank(Dist()) == one  # without torchrun: unchanged
    second = one.for_rank(Dist(rank=1, world_size=2, local_rank=1, local_world_size=2))
    assert second.device_map == {"": 2, "thinker.visual": 3}  # the second slice of the node's GPUs
    assert (second.offload_folder, second.device, second.dtype) == ("off/rank1", "cpu", "bfloat16")
    with pytest.raises(ReapOmniError, match="not both"):
        Placement(device="cpu", device_map="auto").check()
