"""The sparse MoE blocks of a loaded Qwen3-Omni model, for both transformers layouts.

transformers 4.57 keeps one ``nn.Module`` per expert and a ``Linear`` router inside the block; 5.x fuses
the experts into 3-D tensors and moves routing into a top-k router module. The module paths also moved
(``model.layers`` -> ``model.language_model.layers``), so blocks are found by class name, never by path,
and each one is wrapped in a ``MoeBlock`` that computes one expert's own output for either layout.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reap_omni.errors import ReapOmniError

_LAYER_RE = re.compile(r"(?:^|\.)layers\.(\d+)\.")


@dataclass
class MoeBlock:
    """One sparse MoE block, seen the same way whatever the transformers layout."""

    layer: int
    name: str
    module: Any

    @property
    def fused(self) -> bool:
        return hasattr(self.module.experts, "gate_up_proj")

    @property
    def router_weight(self):
        return self.module.gate.weight

    @property
    def num_experts(self) -> int:
        return int(self.router_weight.shape[0])

    @property
    def top_k(self) -> int:
        return int(getattr(self.module, "top_k", None) or self.module.gate.top_k)

    @property
    def norm_topk_prob(self) -> bool:
        owner = self.module if hasattr(self.module, "norm_topk_prob") else self.module.gate
        return bool(owner.norm_topk_prob)

    def expert_output(self, e: int, x):
        """f_e(x): expert ``e``'s own MLP output, before any gate weight is applied."""
        import torch.nn.functional as F

        experts = self.module.experts
        if self.fused:
            gate, up = F.linear(x, experts.gate_up_proj[e]).chunk(2, dim=-1)
            return F.linear(experts.act_fn(gate) * up, experts.down_proj[e])
        mlp = experts[e]
        return mlp.down_proj(mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x))


    def sorted_expert_outputs(self, xs, counts):
        """f for token rows ``xs`` already sorted by expert, ``counts[e]`` rows each (one row per routed pair).

        The observer's fallback when it cannot reuse the model's own expert computation (it costs one extra
        pass over the routed experts). Fused weights go through one grouped matmul per projection (the kernel
        transformers uses); otherwise one matmul per hit expert.
        """
        import torch

        experts = self.module.experts
        grouped = getattr(torch, "_grouped_mm", None)
        if self.fused and grouped is not None:
            offs = torch.cumsum(counts, 0).to(torch.int32)
            try:
                gate, up = grouped(xs, experts.gate_up_proj.transpose(-1, -2), offs=offs).chunk(2, dim=-1)
                return grouped(experts.act_fn(gate) * up, experts.down_proj.transpose(-1, -2), offs=offs)
            except (RuntimeError, NotImplementedError, TypeError):
                pass  # dtype/device without a grouped kernel: fall back to one matmul per expert
        out, start = [], 0
        for e, n in enumerate(counts.tolist()):
            if n:
                out.append(self.expert_output(e, xs[start:start + n]))
                start += n
        return torch.cat(out) if out else xs.new_zeros(0, xs.shape[-1])


def find_moe_blocks(root) -> list[MoeBlock]:
    """Sparse MoE blocks under ``root`` (by class name), ordered by layer index."""
    blocks = []
    for name, module in root.named_modules():
        if not type(module).__name__.endswith("SparseMoeBlock"):
            continue
        if not (hasattr(module, "gate") and hasattr(module, "experts")):
            continue
        m = _LAYER_RE.search("." + name + ".")
        if m is None:
            raise ReapOmniError(f"cannot tell the layer index of MoE block {name}")
        blocks.append(MoeBlock(int(m.group(1)), name, module))
    blocks.sort(key=lambda b: b.layer)
    if not blocks:
        raise ReapOmniError(
            f"no MoE layers found in {type(root).__name__}: nothing to prune (is this a dense model?)"
        )
    counts = {b.num_experts for b in blocks}
    if len(counts) != 1:
        raise ReapOmniError(f"MoE layers disagree on the expert count ({sorted(counts)}); cannot prune uniformly")
    return blocks
