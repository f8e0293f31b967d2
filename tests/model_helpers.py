"""Helpers of the model-side tests: processor inputs per stratum, routing masks, an independent saliency
reference, and launching torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from reap_omni.model.inputs import InputOptions, build_inputs, load_samples
from reap_omni.model.placement import Placement
from reap_omni.model.tiny import TINY_VIDEO_SIZE

TINY_OPTS = InputOptions(video_fps=2.0, video_size=TINY_VIDEO_SIZE, max_seq_len=4096)
F32 = Placement(dtype="float32")  # the tiny model on the CPU in float32
STRATUM_FILES = {"S1": "audio", "S2": "video", "S3": "mixed"}


def stratum_inputs(processor, manifests, stratum: str, limit: int = 2) -> dict:
    samples = load_samples(manifests[STRATUM_FILES[stratum]], stratum, limit)
    return build_inputs(processor, samples, stratum, TINY_OPTS)


def mask_routing(block, kept: list[int]):
    """Make ``block`` route as if the experts not in ``kept`` did not exist (their logits set to -inf)."""
    bias = torch.full((block.num_experts,), float("-inf"))
    bias[kept] = 0.0
    gate = block.module.gate
    if block.fused:  # transformers 5.x: the router itself does softmax/top-k/renorm
        def hook(mod, args, _out):
            x = args[0].reshape(-1, mod.weight.shape[1])
            logits = F.linear(x, mod.weight) + bias
            probs = torch.softmax(logits, dim=-1, dtype=torch.float)
            top, idx = torch.topk(probs, mod.top_k, dim=-1)
            if mod.norm_topk_prob:
                top = top / top.sum(dim=-1, keepdim=True)
            return logits, top.to(logits.dtype), idx
    else:  # 4.57: the block routes from the Linear router's logits
        def hook(_mod, _args, out):
            return out + bias
    return gate.register_forward_hook(hook)


def reference_saliency(block, x: torch.Tensor, mask: torch.Tensor | None):
    """Per-token brute force from the block's state dict in float64: sums and counts per expert."""
    sd = {k: v.double() for k, v in block.module.state_dict().items()}
    w_router = sd["gate.weight"]
    n_exp, top_k = w_router.shape[0], block.top_k
    sums = torch.zeros(n_exp, dtype=torch.float64)
    counts = torch.zeros(n_exp, dtype=torch.int64)
    x = x.reshape(-1, x.shape[-1]).double()
    keep = torch.ones(x.shape[0], dtype=torch.bool) if mask is None else mask.reshape(-1).bool()
    for t in range(x.shape[0]):
        if not keep[t]:
            continue
        xt = x[t]
        probs = torch.softmax(w_router @ xt, dim=0)
        top, idx = torch.topk(probs, top_k)
        if block.norm_topk_prob:
            top = top / top.sum()
        for g, e in zip(top.tolist(), idx.tolist(), strict=True):
            if "experts.gate_up_proj" in sd:
                gate_up = sd["experts.gate_up_proj"][e] @ xt
                gate, up = gate_up[: gate_up.shape[0] // 2], gate_up[gate_up.shape[0] // 2:]
                f = sd["experts.down_proj"][e] @ (F.silu(gate) * up)
            else:
                gate = sd[f"experts.{e}.gate_proj.weight"] @ xt
                up = sd[f"experts.{e}.up_proj.weight"] @ xt
                f = sd[f"experts.{e}.down_proj.weight"] @ (F.silu(gate) * up)
            sums[e] += g * torch.linalg.vector_norm(f)
            counts[e] += 1
    return sums, counts


REPO = Path(__file__).resolve().parents[1]


def launch_env() -> dict[str, str]:
    """A launched process's environment: this checkout's sources, one thread, offline, no launcher left over."""
    env = dict(os.environ)
    path = os.pathsep.join(p for p in (str(REPO / "src"), env.get("PYTHONPATH", "")) if p)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=path, HF_HUB_OFFLINE="1",
               TRANSFORMERS_VERBOSITY="error")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def torchrun(n: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(n)]


def run_launched(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, env=launch_env(), cwd=cwd, timeout=300)


# -- the real Qwen3-Omni-30B-A3B config: sizes from config.json alone ---------------------------------

#: thinker_config of Qwen/Qwen3-Omni-30B-A3B-Instruct, from the published numbers (REAP_OMNI.md §3.2).
TEXT = {"hidden_size": 2048, "num_hidden_layers": 48, "num_experts": 128, "num_experts_per_tok": 8,
        "moe_intermediate_size": 768, "intermediate_size": 768, "norm_topk_prob": True, "decoder_sparse_step": 1,
        "mlp_only_layers": [], "shared_expert_intermediate_size": 0, "num_attention_heads": 32,
        "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 152064, "max_position_embeddings": 65536,
        "rope_scaling": {"mrope_section": [24, 20, 20], "interleaved": True, "rope_type": "default"},
        "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "tie_word_embeddings": False, "hidden_act": "silu"}
AUDIO = {"encoder_layers": 32, "d_model": 1280, "encoder_attention_heads": 20, "encoder_ffn_dim": 5120,
         "num_mel_bins": 128, "n_window": 50, "n_window_infer": 800, "output_dim": 2048}
VISION = {"depth": 27, "hidden_size": 1152, "intermediate_size": 4304, "num_heads": 16, "patch_size": 16,
          "spatial_merge_size": 2, "temporal_patch_size": 2, "deepstack_visual_indexes": [8, 16, 24],
          "out_hidden_size": 2048}


def write_real_config(folder: Path) -> Path:
    """``folder`` holding the real model's config.json (no weights): what the memory plan and the size axis read."""
    cfg = {
        "model_type": "qwen3_omni_moe", "architectures": ["Qwen3OmniMoeForConditionalGeneration"],
        "enable_audio_output": True, "torch_dtype": "bfloat16", "transformers_version": "4.57.0.dev0",
        "thinker_config": {"model_type": "qwen3_omni_moe_thinker", "text_config": TEXT, "audio_config": AUDIO,
                           "vision_config": VISION, "audio_token_id": 151675, "image_token_id": 151655,
                           "video_token_id": 151656, "audio_start_token_id": 151669, "audio_end_token_id": 151670,
                           "vision_start_token_id": 151652, "vision_end_token_id": 151653, "user_token_id": 872,
                           "position_id_per_seconds": 13, "seconds_per_chunk": 2, "torch_dtype": "bfloat16"},
        "talker_config": {"text_config": {"hidden_size": 1024, "num_hidden_layers": 20, "num_experts": 128,
                                          "num_experts_per_tok": 6, "moe_intermediate_size": 384,
                                          "shared_expert_intermediate_size": 768, "norm_topk_prob": True},
                          "spatial_merge_size": 2},
    }
    (folder / "config.json").write_text(json.dumps(cfg, indent=1))
    return folder
