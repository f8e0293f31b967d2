"""Placement: --device-map / --max-memory / offload give the plain load's scores; the memory plan from config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from model_helpers import AUDIO, TEXT, VISION, write_real_config

from reap_omni.cli import run
from reap_omni.errors import ReapOmniError
from reap_omni.model.placement import parse_device_map, parse_max_memory, parse_size
from reap_omni.prune.scores import load_scores


def _strata(manifests) -> list[str]:
    return ["--audio-data", str(manifests["audio"]), "--video-data", str(manifests["video"]),
            "--mixed-data", str(manifests["mixed"])]


def test_parse_max_memory_and_sizes():
    assert parse_max_memory("0=20GiB,1=20GiB,cpu=60GiB") == {0: 20 * 2**30, 1: 20 * 2**30, "cpu": 60 * 2**30}
    assert parse_max_memory("cuda:1=24GB, cpu = 1.5TB") == {1: 24 * 10**9, "cpu": 1.5e12}
    assert parse_size("512MiB") == 512 * 2**20 and parse_size("1000") == 1000
    assert parse_max_memory(None) is None
    for bad, msg in (("0:20GiB", "DEVICE=SIZE"), ("gpu=3GB", "unknown device"), ("0=lots", "cannot read size")):
        with pytest.raises(ReapOmniError, match=msg):
            parse_max_memory(bad)


def test_parse_device_map(tmp_path):
    assert parse_device_map("auto") == "auto" and parse_device_map("sequential") == "sequential"
    assert parse_device_map('{"a.b": 0, "c": "cuda:1", "": "cpu"}') == {"a.b": 0, "c": 1, "": "cpu"}
    f = tmp_path / "map.json"
    f.write_text('{"": "disk"}')
    assert parse_device_map(str(f)) == {"": "disk"}
    for bad in ("everywhere", "{not json", "[]", '{"x": "tpu"}'):
        with pytest.raises(ReapOmniError):
            parse_device_map(bad)


# -- the real Qwen3-Omni-30B-A3B config: the plan alone, no weights ------------------------------------

# TEXT, AUDIO, VISION: the published thinker config (tests/model_helpers.py, shared with the eval size axis)

def _expected_thinker_parameters() -> int:
    """Counted by hand from the published shapes: the text model exactly, the encoders' layer stacks."""
    h, v, n_layers = TEXT["hidden_size"], TEXT["vocab_size"], TEXT["num_hidden_layers"]
    q, kv = TEXT["num_attention_heads"] * TEXT["head_dim"], TEXT["num_key_value_heads"] * TEXT["head_dim"]
    attn = h * q + 2 * h * kv + q * h + 2 * TEXT["head_dim"]
    moe = TEXT["num_experts"] * 3 * TEXT["moe_intermediate_size"] * h + TEXT["num_experts"] * h
    text = 2 * v * h + n_layers * (attn + moe + 2 * h) + h
    d, ffn = AUDIO["d_model"], AUDIO["encoder_ffn_dim"]
    audio = AUDIO["encoder_layers"] * (4 * d * d + 2 * d * ffn)
    hv, iv = VISION["hidden_size"], VISION["intermediate_size"]
    vision = VISION["depth"] * (4 * hv * hv + 2 * hv * iv)
    return text + audio + vision


@pytest.fixture(scope="module")
def real_config(tmp_path_factory) -> Path:
    return write_real_config(tmp_path_factory.mktemp("qwen3-omni-30b-a3b"))


def _plan(argv, capsys) -> tuple[dict, str]:
    assert run(["prune", *argv, "--plan-only", "--json"]) == 0
    cap = capsys.readouterr()
    return json.loads(cap.out), cap.err


def test_memory_plan_of_the_real_model_counts_its_parameters(real_config, capsys):
    summary, err = _plan(["--model-path", str(real_config), "--device-map", "auto", "--max-memory",
                          "0=40GiB,1=40GiB,cpu=64GiB"], capsys)
    want = _expected_thinker_parameters()
    assert abs(summary["parameters"] - want) / want < 0.01, (summary["parameters"], want)
    assert 31.0e9 < summary["parameters"] < 32.5e9  # the ~31B thinker only: the talker is not loaded to score
    assert summary["dtype"] == "bfloat16" and summary["bytes"] == 2 * summary["parameters"]
    first = err.splitlines()[0]
    assert f"{summary['parameters'] / 1e9:.2f} B parameters" in first and f"{summary['bytes'] / 1e9:.1f} GB" in first
    per = summary["per_device"]
    assert set(per) == {"cuda:0", "cuda:1"}  # 63 GB over 2 x 43 GB: no offload needed
    assert sum(d["parameters"] for d in per.values()) == summary["parameters"]
    assert all(d["bytes"] <= 40 * 2**30 for d in per.values())
    assert "cuda:0" in err and "cuda:1" in err and "of 42.9 GB" in err
    # layers are whole on one device, and the map is what from_pretrained will get
    assert all(not k.split(".")[-1].isdigit() or ".layers." in k for k in summary["device_map"])


def test_memory_plan_refuses_what_cannot_fit(real_config, capsys):
    base = ["prune", "--model-path", str(real_config), "--plan-only"]
    assert run([*base, "--device-map", "auto", "--max-memory", "0=24GB,1=24GB"]) != 0
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "needs 63.4 GB, 2 x 24.0 GB given: add GPUs, --max-memory, or offload" in err
    # with CPU memory the rest is offloaded to the host, and the plan says where it is computed
    summary, err = _plan(["--model-path", str(real_config), "--device-map", "sequential",
                          "--max-memory", "0=24GB,1=24GB,cpu=64GB"], capsys)
    assert set(summary["per_device"]) == {"cuda:0", "cuda:1", "cpu"}
    assert "(offloaded: computed on cuda:0)" in err
    # with an offload folder, disk too
    summary, _ = _plan(["--model-path", str(real_config), "--device-map", "auto", "--max-memory", "0=24GB,cpu=24GB",
                        "--offload-folder", "/nonexistent-not-created-by-a-plan"], capsys)
    assert "disk" in summary["per_device"]
    # one device that is too small
    assert run([*base, "--device", "cuda:0", "--max-memory", "0=24GB"]) != 0
    assert "needs 63.4 GB, cuda:0 has 24.0 GB" in capsys.readouterr().err


def test_bad_device_maps_are_one_line_errors(real_config, capsys):
    base = ["prune", "--model-path", str(real_config), "--plan-only"]
    visual = _layout(real_config)["visual"]
    for dm, msg in (('{"thinker.nope": 0, "": "cpu"}', "no module of the model"),
                    (json.dumps({visual: "cpu"}), "gives no device for thinker."),
                    ("everywhere", "expected auto")):
        assert run([*base, "--device-map", dm]) != 0
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1, err
    assert run([*base, "--device", "cpu", "--device-map", "auto"]) != 0
    assert "not both" in capsys.readouterr().err


# -- the tiny model: every placement gives the plain load's scores --------------------------------------

def _layout(model_path) -> dict[str, str]:
    """Module names in the installed transformers' layout (5.x nests the text model and the encoders under
    ``thinker.model``; 4.57 has ``thinker.model`` as the text model and the encoders beside it)."""
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.memory_plan import empty_model

    model, _ = empty_model(ModelInfo.read(model_path), torch.float32)
    names = [n for n, _m in model.named_modules() if n.startswith("thinker.")]
    lm = next(n.removesuffix(".embed_tokens") for n in names if n.endswith(".embed_tokens"))
    return {"lm": lm, "audio": next(n for n in names if n.endswith(".audio_tower")),
            "visual": next(n for n in names if n.endswith(".visual"))}


def _tiny_map(model_path, offload: bool) -> dict[str, str]:
    names = _layout(model_path)
    lm = names["lm"]
    far = "disk" if offload else "cpu"
    return {f"{lm}.embed_tokens": "cpu", names["audio"]: "cpu", names["visual"]: far,
            f"{lm}.layers.0": "cpu", f"{lm}.layers.1": far, f"{lm}.layers.2": "cpu", f"{lm}.layers.3": far,
            f"{lm}.norm": "cpu", f"{lm}.rotary_emb": "cpu", "thinker.lm_head": "cpu"}


def _scores(tiny_ckpt, manifests, out: Path, *extra: str):
    argv = ["prune", "--model-path", str(tiny_ckpt), *_strata(manifests), "--dry-run", "--dtype", "float32",
            "--scores-out", str(out / "scores.json"), "--video-max-pixels", "4096", *extra]
    assert run(argv) == 0
    return load_scores(out / "scores.json"), json.loads((out / "scores.json").read_text())["kept"]


@pytest.fixture(scope="module")
def plain_scores(tiny_ckpt, manifests, tmp_path_factory):
    return _scores(tiny_ckpt, manifests, tmp_path_factory.mktemp("plain"))


@pytest.mark.parametrize("placement", ["cpu-entries", "disk-offload", "auto", "device"])
def test_placements_give_the_plain_loads_scores(tiny_ckpt, manifests, plain_scores, tmp_path, placement, capsys):
    extra = {
        "cpu-entries": ["--device-map", json.dumps(_tiny_map(tiny_ckpt, False))],
        "disk-offload": ["--device-map", json.dumps(_tiny_map(tiny_ckpt, True)),
                         "--offload-folder", str(tmp_path / "off")],
        "auto": ["--device-map", "auto", "--max-memory", "cpu=2GiB"],
        "device": ["--device", "cpu"],
    }[placement]
    got, kept = _scores(tiny_ckpt, manifests, tmp_path, *extra)
    err = capsys.readouterr().err
    assert "memory plan (weights only, from config.json): thinker" in err
    if placement == "disk-offload":
        assert "disk" in err and "(offloaded: computed on cpu)" in err
    want, want_kept = plain_scores
    assert kept == want_kept
    # The sums are float64 totals of float32 per-token saliencies. Offloading runs the same layers through
    # accelerate's hooks (weights moved/cast per call), and a transformers or accelerate release may change the
    # order of float32 operations on either path (5.25 + 1.16 moved them by 9e-8 relative): compare at float32's
    # resolution compounded over the layers, not bit for bit. Counts and kept sets are integers: equal.
    for s in ("S1", "S2", "S3"):
        assert torch.equal(got.strata[s].counts, want.strata[s].counts)
        assert torch.equal(got.strata[s].tokens, want.strata[s].tokens)
        torch.testing.assert_close(got.strata[s].sums, want.strata[s].sums, rtol=1e-5, atol=1e-6)


def test_observer_accumulates_where_each_block_computes(tiny_ckpt, tmp_path):
    """Offloaded blocks (meta weights between forwards) still get accumulators, on their execution device."""
    from transformers import Qwen3OmniMoeForConditionalGeneration

    from reap_omni.model.load import execution_device
    from reap_omni.model.moe import find_moe_blocks
    from reap_omni.prune.observer import ReapObserver

    model = Qwen3OmniMoeForConditionalGeneration.from_pretrained(
        tiny_ckpt, enable_audio_output=False, dtype="float32", device_map=_tiny_map(tiny_ckpt, True),
        offload_folder=str(tmp_path / "off"))
    thinker = model.thinker
    blocks = find_moe_blocks(thinker)
    assert blocks[1].router_weight.device.type == "meta"
    assert execution_device(thinker, blocks[1].module) == torch.device("cpu")
    assert execution_device(thinker, thinker.get_input_embeddings()) == torch.device("cpu")
    ids = torch.randint(0, 200, (1, 12))
    with ReapObserver(blocks) as obs, torch.inference_mode():
        assert all("_old_forward" in vars(b.module.experts) for b in blocks)
        obs.set_attention_mask(torch.ones_like(ids))
        thinker(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
        st = obs.stats()
    assert st.tokens.tolist() == [12] * 4 and int(st.counts.sum()) == 4 * 12 * blocks[0].top_k
    experts = [b.module.experts for b in blocks]
    assert all(e._old_forward == type(e).forward.__get__(e) for e in experts), "close() restores accelerate's inner"


def test_a_root_disk_entry_is_spelled_per_module_and_keeps_the_other_entries(tiny_ckpt, tmp_path):
    """``{"": "disk", <visual>: "cpu"}``: no root entry (transformers 4.57 cannot open a shard on "disk"), no
    entry inside another (4.57 ignores nested overrides), every parameter placed, the visual still on cpu."""
    from reap_omni.model.info import ModelInfo
    from reap_omni.model.memory_plan import plan_placement
    from reap_omni.model.placement import Placement

    visual = _layout(tiny_ckpt)["visual"]
    plan = plan_placement(ModelInfo.read(tiny_ckpt), Placement(dtype="float32", device_map={"": "disk", visual: "cpu"},
                                                               offload_folder=str(tmp_path / "off")))
    keys = list(plan.device_map)
    assert "" not in keys and plan.device_map[visual] == "cpu"
    assert not [(a, b) for a in keys for b in keys if b.startswith(a + ".")]
    assert set(plan.per_device) == {"cpu", "disk"} and plan.per_device["disk"][0] > plan.per_device["cpu"][0]
