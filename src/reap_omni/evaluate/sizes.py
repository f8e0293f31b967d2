"""The pruned thinker's size at each retention, exact from the config: the second axis of eval's retention curve.

The model is built on the meta device from ``config.json`` (``memory_plan.empty_model``: what the memory plan counts,
no weight read) and its parameters are counted once. Pruning to K of E experts per MoE layer removes (E − K)
experts' weights and their router rows in every MoE layer and nothing else (``prune.surgery``), so the size at K is
that count minus (E − K) × (one expert's parameters + one router row) per MoE layer. bf16 bytes are 2 per parameter
(the size a bf16 checkpoint of the pruned thinker has on disk, GB = 1e9 bytes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reap_omni.model.info import ModelInfo


def thinker_sizes(info: ModelInfo, kept_per_layer: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``{K: {"parameters", "bf16_gb", "kept_per_layer"}}`` for each K (experts kept per MoE layer); K = E is the
    unpruned model, whose parameters equal the memory plan's (``prune --plan-only``)."""
    import torch

    from reap_omni.model.memory_plan import empty_model
    from reap_omni.model.moe import find_moe_blocks

    model, _dtype = empty_model(info, torch.bfloat16)
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    blocks = find_moe_blocks(model)
    per_expert = 0  # one expert's weights plus its router row, summed over the MoE layers
    for block in blocks:
        n = block.num_experts
        expert_params = sum(p.numel() for p in block.module.experts.parameters())
        router_params = sum(p.numel() for p in block.module.gate.parameters())
        if expert_params % n or router_params % n:
            raise ValueError(f"MoE layer {block.layer}: parameters not divisible by its {n} experts")
        per_expert += expert_params // n + router_params // n
    n_exp = blocks[0].num_experts
    out = {}
    for k in sorted(set(kept_per_layer)):
        params = total - (n_exp - k) * per_expert
        out[k] = {"kept_per_layer": k, "parameters": params, "bf16_gb": round(2 * params / 1e9, 4)}
    return out
