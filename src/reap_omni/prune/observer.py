"""REAP saliency observer: sum of g_e(x)·||f_e(x)||₂ and token counts per (layer, expert).

Hooks read the routing the model itself applies (5.x: the experts' pre-hook receives the top-k ids and
renormalised weights; 4.57: the block returns its raw router logits, and softmax/top-k/renorm is redone
exactly as the block does). Each routed (token, expert) pair's own expert output is recomputed from the
expert's weights (one grouped matmul for fused experts, else one matmul per hit expert) and accumulated
on the device in float64. There is no per-token Python loop and no host sync per expert.
Padding tokens are excluded through the attention mask set before each forward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from reap_omni.prune.model_io import MoeBlock


@dataclass
class StratumStats:
    """Raw statistics of one calibration stratum; S = sums / counts (0 where an expert was never routed)."""

    sums: torch.Tensor  # [L, E] float64: Σ g·||f||
    counts: torch.Tensor  # [L, E] int64: routed tokens N_e
    tokens: torch.Tensor  # [L] int64: non-padding tokens seen by the layer

    def saliency(self) -> torch.Tensor:
        return torch.where(self.counts > 0, self.sums / self.counts.clamp(min=1), torch.zeros_like(self.sums))

    def frequency(self) -> torch.Tensor:
        return self.counts.double() / self.tokens.clamp(min=1).double()[:, None]


class ReapObserver:
    """Attach to MoE blocks, run forwards, read ``stats()``; use as a context manager to remove the hooks."""

    def __init__(self, blocks: list[MoeBlock]):
        self.blocks = blocks
        dev = blocks[0].router_weight.device
        n_layers, n_experts = len(blocks), blocks[0].num_experts
        self._sums = torch.zeros(n_layers, n_experts, dtype=torch.float64, device=dev)
        self._counts = torch.zeros(n_layers, n_experts, dtype=torch.int64, device=dev)
        self._tokens = torch.zeros(n_layers, dtype=torch.int64, device=dev)
        self._mask: torch.Tensor | None = None
        self._handles = []
        for slot, block in enumerate(blocks):
            if block.fused:
                h = block.module.experts.register_forward_pre_hook(self._fused_hook(slot, block))
            else:
                h = block.module.register_forward_hook(self._modulelist_hook(slot, block))
            self._handles.append(h)

    def set_attention_mask(self, attention_mask: torch.Tensor | None) -> None:
        """Tokens with mask 0 (padding) are ignored by the next forward."""
        self._mask = None if attention_mask is None else attention_mask.reshape(-1).bool()

    def stats(self) -> StratumStats:
        return StratumStats(self._sums.cpu().clone(), self._counts.cpu().clone(), self._tokens.cpu().clone())

    def reset(self) -> None:
        self._sums.zero_()
        self._counts.zero_()
        self._tokens.zero_()

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __enter__(self) -> ReapObserver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- hooks -------------------------------------------------------------------------------------

    def _fused_hook(self, slot: int, block: MoeBlock):
        def hook(_module, args):
            x, top_k_index, top_k_weights = args[0], args[1], args[2]
            self._accumulate(slot, block, x, top_k_index, top_k_weights)

        return hook

    def _modulelist_hook(self, slot: int, block: MoeBlock):
        def hook(_module, args, output):
            x = args[0].reshape(-1, args[0].shape[-1])
            router_logits = output[-1]
            probs = torch.softmax(router_logits, dim=1, dtype=torch.float)
            weights, index = torch.topk(probs, block.top_k, dim=-1)
            if block.norm_topk_prob:
                weights = weights / weights.sum(dim=-1, keepdim=True)
            self._accumulate(slot, block, x, index, weights.to(x.dtype))

        return hook

    @torch.no_grad()
    def _accumulate(self, slot: int, block: MoeBlock, x, index, weights) -> None:
        x = x.reshape(-1, x.shape[-1])
        if self._mask is not None:
            if self._mask.numel() != x.shape[0]:
                raise RuntimeError(f"attention mask has {self._mask.numel()} tokens, MoE block saw {x.shape[0]}")
            mask = self._mask.to(x.device)
            x, index, weights = x[mask], index[mask], weights[mask]
        n_tok, k = index.shape
        n_exp = block.num_experts
        experts = index.reshape(-1)
        order = torch.argsort(experts, stable=True)
        sorted_experts = experts[order]
        token_of_pair = torch.div(order, k, rounding_mode="floor")
        gates = weights.reshape(-1)[order].double()
        counts = torch.bincount(experts, minlength=n_exp)
        f = block.sorted_expert_outputs(x[token_of_pair], counts)
        norms = torch.linalg.vector_norm(f.float(), dim=-1).double()
        self._sums[slot].index_add_(0, sorted_experts, gates * norms)
        self._counts[slot] += counts
        self._tokens[slot] += n_tok
