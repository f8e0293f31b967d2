"""REAP saliency observer: sum of g_e(x)·||f_e(x)||₂ and token counts per (layer, expert).

Fused experts (transformers 5.x) are observed without any extra expert computation: while the observer is
attached, the experts module's ``forward`` is replaced by an instrumented copy of the kernel transformers
dispatches to (``config._experts_implementation``: ``grouped_mm``, ``batched_mm`` or ``eager``). It computes
each routed (token, expert) output f once, reads ||f||₂ before the gate is applied, and then finishes the
block's output exactly as the model would (same kernels, same operation order), so the observed forward
returns the same logits as the plain one. ``close()`` restores the original ``forward``. The gates are the
renormalised top-k weights the model's own router passed in.

Any other layout falls back to recomputing each routed pair's output from the expert weights (one grouped
matmul, else one matmul per hit expert) next to the model's own computation: an experts kernel that is not
mirrored (e.g. ``deepgemm``), experts with biases / transposed weights / expert parallelism, an experts
module whose ``forward`` someone else already replaced, and transformers 4.57's per-expert modules (its
block returns the raw router logits, and softmax/top-k/renorm is redone exactly as the block does).

Statistics accumulate in float64 on each block's own device (the device its experts execute on, which
under an accelerate device map may differ from layer to layer), with no per-token Python loop and no host
sync of their own; ``stats()`` gathers them on the CPU. Padding tokens are excluded through the attention
mask set before each forward.

Under accelerate's big-model dispatch (``device_map``), every experts module's ``forward`` is accelerate's
wrapper, which moves the inputs to the execution device and loads offloaded weights before calling the
module's ``_old_forward``: the instrumented kernel then replaces ``_old_forward``, so it runs with the weights
in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from reap_omni.model.moe import MoeBlock


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
    """Attach to MoE blocks, run forwards, read ``stats()``; use as a context manager to detach again."""

    def __init__(self, blocks: list[MoeBlock]):
        self.blocks = blocks
        self.num_experts = blocks[0].num_experts
        # per block: (sums [E] f64, counts [E] i64, tokens [] i64), created on first use on the device the
        # block computes on (a meta router weight under disk offload tells nothing)
        self._acc: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None] = [None] * len(blocks)
        self._base: StratumStats | None = None  # restored partial statistics (resume), seeded into _acc
        self._mask: torch.Tensor | None = None
        self._mask_on: dict[torch.device, torch.Tensor] = {}
        self._handles = []
        self._patched: list[tuple] = []  # (module, attribute, our forward[, the forward it wraps])
        for slot, block in enumerate(blocks):
            experts = block.module.experts if block.fused else None
            if experts is not None and "forward" not in vars(experts):
                experts.forward = forward = self._observed_experts_forward(slot, block, None)
                self._patched.append((experts, "forward", forward))
            elif experts is not None and _accelerate_wrapped(experts):
                inner = vars(experts)["_old_forward"]
                experts._old_forward = forward = self._observed_experts_forward(slot, block, inner)
                self._patched.append((experts, "_old_forward", forward, inner))
            elif experts is not None:  # forward replaced by someone else: keep it, recompute beside it
                h = experts.register_forward_pre_hook(self._fused_hook(slot, block))
                self._handles.append(h)
            else:
                self._handles.append(block.module.register_forward_hook(self._modulelist_hook(slot, block)))

    def set_attention_mask(self, attention_mask: torch.Tensor | None) -> None:
        """Tokens with mask 0 (padding) are ignored by the next forward."""
        self._mask = None if attention_mask is None else attention_mask.reshape(-1).bool()
        self._mask_on = {}

    def _mask_for(self, device: torch.device) -> torch.Tensor:
        """The current mask on ``device``, copied there once per forward (not once per block)."""
        mask = self._mask_on.get(device)
        if mask is None:
            mask = self._mask_on[device] = self._mask.to(device)
        return mask

    def _accumulators(self, slot: int, device: torch.device):
        acc = self._acc[slot]
        if acc is None:
            if self._base is not None:  # continue exactly where the checkpoint stopped
                b = self._base
                acc = (b.sums[slot].to(device, copy=True), b.counts[slot].to(device, copy=True),
                       b.tokens[slot].to(device, copy=True))
            else:
                e = self.num_experts
                acc = (torch.zeros(e, dtype=torch.float64, device=device),
                       torch.zeros(e, dtype=torch.int64, device=device),
                       torch.zeros((), dtype=torch.int64, device=device))
            self._acc[slot] = acc
        elif acc[0].device != device:  # the block moved (not expected): keep accumulating where it computes now
            acc = self._acc[slot] = tuple(t.to(device) for t in acc)
        return acc

    def stats(self) -> StratumStats:
        """The statistics so far, gathered from every block's device onto the CPU."""
        n, e = len(self.blocks), self.num_experts
        sums = torch.zeros(n, e, dtype=torch.float64)
        counts = torch.zeros(n, e, dtype=torch.int64)
        tokens = torch.zeros(n, dtype=torch.int64)
        for slot, acc in enumerate(self._acc):
            if acc is not None:
                sums[slot], counts[slot], tokens[slot] = (t.cpu() for t in acc)
            elif self._base is not None:
                sums[slot], counts[slot], tokens[slot] = (self._base.sums[slot], self._base.counts[slot],
                                                          self._base.tokens[slot])
        return StratumStats(sums, counts, tokens)

    def reset(self, base: StratumStats | None = None) -> None:
        """Start a new stratum: from zero, or from ``base`` (partial statistics restored from a checkpoint)."""
        self._acc = [None] * len(self.blocks)
        self._base = base

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for experts, attr, forward, *inner in self._patched:
            if vars(experts).get(attr) is forward:
                if inner:
                    setattr(experts, attr, inner[0])
                else:
                    delattr(experts, attr)
        self._patched.clear()

    def __enter__(self) -> ReapObserver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- fused experts: the model's own computation, instrumented ----------------------------------------

    def _observed_experts_forward(self, slot: int, block: MoeBlock, original):
        experts = block.module.experts
        original = original or type(experts).forward.__get__(experts)

        def forward(hidden_states, top_k_index, top_k_weights):
            kernel = _mirrored_kernel(experts)
            if kernel is None:
                self._accumulate(slot, block, hidden_states, top_k_index, top_k_weights)
                return original(hidden_states, top_k_index, top_k_weights)

            def observe(f, expert_ids, token_ids, gates):
                self._record_pairs(slot, hidden_states.shape[0], f, expert_ids, token_ids, gates)

            return kernel(experts, hidden_states, top_k_index, top_k_weights, observe)

        return forward

    @torch.no_grad()
    def _record_pairs(self, slot: int, n_tokens: int, f, expert_ids, token_ids, gates) -> None:
        """Record routed pairs: f [P, H] the experts' own outputs, their expert / token ids and gates [P]."""
        if self._mask is None:
            self._record(slot, f, expert_ids, gates, None, n_tokens)
            return
        if self._mask.numel() != n_tokens:
            raise RuntimeError(f"attention mask has {self._mask.numel()} tokens, MoE block saw {n_tokens}")
        mask = self._mask_for(f.device)
        self._record(slot, f, expert_ids, gates, mask[token_ids], mask.sum())

    @torch.no_grad()
    def _record(self, slot: int, f, expert_ids, gates, valid, n_tokens) -> None:
        sums, counts, tokens = self._accumulators(slot, f.device)
        contrib = gates.double() * torch.linalg.vector_norm(f.float(), dim=-1).double()
        if valid is None:
            hits = torch.ones_like(expert_ids, dtype=torch.int64)
        else:  # where, not a product: padding rows may hold non-finite values
            contrib = torch.where(valid, contrib, torch.zeros_like(contrib))
            hits = valid.to(torch.int64)
        sums.index_add_(0, expert_ids, contrib)
        counts.index_add_(0, expert_ids, hits)
        tokens += n_tokens

    # -- fallback: recompute the routed experts' outputs -------------------------------------------------

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
            mask = self._mask_for(x.device)
            x, index, weights = x[mask], index[mask], weights[mask]
        n_tok, k = index.shape
        experts = index.reshape(-1)
        order = torch.argsort(experts, stable=True)
        sorted_experts = experts[order]
        token_of_pair = torch.div(order, k, rounding_mode="floor")
        counts = torch.bincount(experts, minlength=block.num_experts)
        f = block.sorted_expert_outputs(x[token_of_pair], counts)
        self._record(slot, f, sorted_experts, weights.reshape(-1)[order], None, n_tok)


def _accelerate_wrapped(module) -> bool:
    """True when accelerate's hook owns ``module.forward`` and calls ``module._old_forward`` inside it."""
    return getattr(module, "_hf_hook", None) is not None and callable(vars(module).get("_old_forward"))


# -- instrumented copies of transformers 5.x's experts kernels (integrations/moe.py) -------------------
#
# Each computes exactly what the kernel of the same name computes, and hands the experts' own outputs
# (before the routing weights are applied) to ``observe(f, expert_ids, token_ids, gates)``.


def _mirrored_kernel(experts):
    """The instrumented kernel matching what ``experts`` dispatches to now, or None if there is none."""
    if not (hasattr(experts, "gate_up_proj") and hasattr(experts, "down_proj")):
        return None
    if (
        not getattr(experts, "has_gate", True)
        or getattr(experts, "has_bias", False)
        or getattr(experts, "is_transposed", False)
        or getattr(experts, "has_post_expert_norm", False)
        or getattr(experts, "_is_expert_parallel", False)
    ):
        return None
    impl = getattr(getattr(experts, "config", None), "_experts_implementation", None) or "eager"
    kernel = _KERNELS.get(impl)
    if kernel is None or (impl != "eager" and _moe_helpers() is None):
        return None
    return kernel


def _moe_helpers():
    """transformers' own grouped / batched linear helpers, so that the same matmul kernels are chosen."""
    try:
        from transformers.integrations.moe import _batched_linear, _grouped_linear
    except ImportError:
        return None
    return _grouped_linear, _batched_linear


def _eager_kernel(experts, hidden_states, top_k_index, top_k_weights, observe):
    """Qwen3-Omni-MoE's own ``Experts.forward``: one matmul pair per hit expert, index_add_ of g·f."""
    n_exp = experts.num_experts
    final_hidden_states = torch.zeros_like(hidden_states)
    with torch.no_grad():
        expert_mask = F.one_hot(top_k_index, num_classes=n_exp + 1).permute(2, 1, 0)
        expert_hit = torch.greater(expert_mask.sum(dim=(-1, -2)), 0).nonzero()
    outs, ids, toks, gates = [], [], [], []
    for expert_idx in expert_hit:
        expert_idx = expert_idx[0]
        if expert_idx == n_exp:
            continue
        top_k_pos, token_idx = torch.where(expert_mask[expert_idx])
        gate, up = F.linear(hidden_states[token_idx], experts.gate_up_proj[expert_idx]).chunk(2, dim=-1)
        f = F.linear(experts.act_fn(gate) * up, experts.down_proj[expert_idx])
        g = top_k_weights[token_idx, top_k_pos, None]
        outs.append(f)
        ids.append(expert_idx.expand(token_idx.shape[0]))
        toks.append(token_idx)
        gates.append(g[:, 0])
        final_hidden_states.index_add_(0, token_idx, (f * g).to(final_hidden_states.dtype))
    if outs:
        observe(torch.cat(outs), torch.cat(ids), torch.cat(toks), torch.cat(gates))
    return final_hidden_states


def _grouped_mm_kernel(experts, hidden_states, top_k_index, top_k_weights, observe):
    """transformers' ``grouped_mm_experts_forward`` (gated, no bias, not transposed, no expert parallelism)."""
    grouped_linear, _ = _moe_helpers()
    device = hidden_states.device
    num_top_k = top_k_index.size(-1)
    num_tokens, hidden_dim = hidden_states.size(0), hidden_states.size(-1)
    sample_weights = top_k_weights.reshape(-1)
    expert_ids = top_k_index.reshape(-1)
    expert_ids_g, perm = torch.sort(expert_ids)
    token_ids_g = perm // num_top_k
    sample_weights_g = sample_weights[perm]
    histc_input = expert_ids_g.float() if device.type in ("cpu", "mps") else expert_ids_g.int()
    tokens_per_expert = torch.histc(histc_input, bins=experts.num_experts, min=0, max=experts.num_experts - 1)
    offsets = torch.cumsum(tokens_per_expert, dim=0, dtype=torch.int32)
    proj_out = grouped_linear(hidden_states[token_ids_g], experts.gate_up_proj, offsets)
    proj_out = experts._apply_gate(proj_out)
    proj_out = grouped_linear(proj_out, experts.down_proj, offsets)
    observe(proj_out, expert_ids_g, token_ids_g, sample_weights_g)
    weighted_out = proj_out * sample_weights_g.unsqueeze(-1)
    inv_perm = torch.empty_like(perm)
    inv_perm[perm] = torch.arange(perm.size(0), device=device)
    final_hidden_states = weighted_out[inv_perm].view(num_tokens, num_top_k, hidden_dim).sum(dim=1)
    return final_hidden_states.to(hidden_states.dtype)


def _batched_mm_kernel(experts, hidden_states, top_k_index, top_k_weights, observe):
    """transformers' ``batched_mm_experts_forward`` (gated, no bias, not transposed, no expert parallelism)."""
    _, batched_linear = _moe_helpers()
    num_top_k = top_k_index.size(-1)
    num_tokens, hidden_dim = hidden_states.size(0), hidden_states.size(-1)
    selected_hidden_states = hidden_states.repeat_interleave(num_top_k, dim=0)
    sample_weights = top_k_weights.reshape(-1)
    expert_ids = top_k_index.reshape(-1)
    proj_out = batched_linear(selected_hidden_states, experts.gate_up_proj[expert_ids])
    proj_out = experts._apply_gate(proj_out)
    proj_out = batched_linear(proj_out, experts.down_proj[expert_ids])
    token_ids = torch.arange(expert_ids.shape[0], device=expert_ids.device) // num_top_k
    observe(proj_out, expert_ids, token_ids, sample_weights)
    weighted_out = proj_out * sample_weights.unsqueeze(-1)
    final_hidden_states = weighted_out.view(num_tokens, num_top_k, hidden_dim).sum(dim=1)
    return final_hidden_states.to(hidden_states.dtype)


_KERNELS = {"eager": _eager_kernel, "grouped_mm": _grouped_mm_kernel, "batched_mm": _batched_mm_kernel}
