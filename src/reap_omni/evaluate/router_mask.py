"""Evaluate an expert selection on the loaded original model: mask the dropped experts out of the router.

A pruned checkpoint keeps experts ``kept`` (renumbered 0..K-1) and the router rows of those experts. The
original model whose router logits of every other expert are set to −inf before softmax routes exactly the
same way: softmax over the E logits then equals softmax over the K kept ones, top-k picks among the kept
experts only, and the renormalised top-k weights coincide (with or without ``norm_topk_prob``). So one
loaded model evaluates any number of selections, one after another, without writing a checkpoint.

Both transformers layouts that ``MoeBlock`` abstracts are handled by one forward hook on the block's
``gate``:

* transformers 4.57: ``gate`` is an ``nn.Linear`` returning the raw logits, and the block does
  softmax/top-k/renorm itself: the hook adds the mask (0 for kept, −inf for dropped) to the logits.
* transformers 5.x: ``gate`` is a top-k router returning ``(logits, top-k weights, top-k ids)``: the hook
  redoes the routing from those raw logits with the mask added, the way the router computes it (softmax in
  float32, top-k, renormalisation, weights cast back to the logits' dtype), and returns the masked logits
  first. It never reads the router weight, so it also works when accelerate offloads that weight (it is
  back on the meta device by the time a forward hook runs). The raw-logits first output is transformers
  5.24's (the supported 5.x; 5.0.0 returned probabilities there).

A layer whose selection keeps every expert is left untouched (bit-identical to the original), and so is
every layer while no selection is set. ``close()`` removes the hooks: the model is the original again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from reap_omni.errors import ReapOmniError
from reap_omni.model.moe import MoeBlock


class RouterMask:
    """Hooks on every block's router; ``set(kept)`` selects the experts, ``set(None)`` is the original."""

    def __init__(self, blocks: Sequence[MoeBlock]):
        self.blocks = list(blocks)
        self._kept: dict[int, torch.Tensor] = {}  # layer -> bool [E], True = kept (only layers that drop some)
        self._bias: dict[tuple[int, torch.device, torch.dtype], torch.Tensor] = {}
        self._handles = [b.module.gate.register_forward_hook(self._hook(b)) for b in self.blocks]

    @property
    def active(self) -> bool:
        return bool(self._kept)

    def set(self, kept: Mapping[int, Sequence[int]] | None) -> None:
        """Route every MoE layer to its ``kept[layer]`` experts (old ids); ``None`` restores the original."""
        self._kept, self._bias = {}, {}
        if kept is None:
            return
        for block in self.blocks:
            if block.layer not in kept:
                raise ReapOmniError(f"the expert selection has no entry for MoE layer {block.layer}")
            ids = sorted({int(e) for e in kept[block.layer]})
            n = block.num_experts
            if ids and (ids[0] < 0 or ids[-1] >= n):
                raise ReapOmniError(f"layer {block.layer}: expert ids must be in 0..{n - 1}, got {ids}")
            if len(ids) < block.top_k:
                raise ReapOmniError(f"layer {block.layer} keeps {len(ids)} experts, fewer than top-k {block.top_k}")
            if len(ids) == n:
                continue  # nothing dropped: leave the layer exactly as it is
            mask = torch.zeros(n, dtype=torch.bool)
            mask[ids] = True
            self._kept[block.layer] = mask

    def _bias_for(self, layer: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (layer, device, dtype)
        bias = self._bias.get(key)
        if bias is None:
            keep = self._kept[layer]
            bias = torch.zeros(keep.shape, dtype=dtype)
            bias[~keep] = float("-inf")
            bias = self._bias[key] = bias.to(device)
        return bias

    def _hook(self, block: MoeBlock):
        layer = block.layer

        def hook(_gate, _args, output):
            if layer not in self._kept:
                return None
            if isinstance(output, torch.Tensor):  # 4.57: raw logits; the block routes from them
                return output + self._bias_for(layer, output.device, output.dtype)
            # 5.x top-k router: redo its routing from its own raw logits, masked
            logits = output[0]
            logits = logits + self._bias_for(layer, logits.device, logits.dtype)
            probs = torch.softmax(logits, dim=-1, dtype=torch.float)
            top, idx = torch.topk(probs, block.top_k, dim=-1)
            if block.norm_topk_prob:
                top = top / top.sum(dim=-1, keepdim=True)
            return (logits, top.to(logits.dtype), idx, *tuple(output)[3:])

        return hook

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        self._kept, self._bias = {}, {}

    def __enter__(self) -> RouterMask:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def kept_by_layer(layers: Sequence[int], kept: torch.Tensor) -> dict[int, list[int]]:
    """``{layer: kept ids}`` from a selection's ``[L, K]`` tensor whose rows follow ``layers``."""
    return {int(layer): [int(e) for e in kept[i].tolist()] for i, layer in enumerate(layers)}
