"""What healing trains: the thinker's routers and kept experts, and nothing else.

Pruning removed rows of every router and whole experts; attention, embeddings, the audio and vision
encoders, the talker and code2wav are untouched, so they stay frozen. LoRA with a trainer's default targets
would not reach what changed: in transformers 5 the experts are fused 3-D parameters, not ``nn.Linear``,
so LoRA attaches to attention only. Healing therefore trains full parameters on the MoE modules alone.

The counts come from the checkpoint's safetensors headers (no weight is read, no torch needed); the default
learning rate from the size of a few of the trainable weights (``default_learning_rate``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: the MoE modules under a thinker prefix: router ``mlp.gate`` and experts ``mlp.experts`` (fused tensors in
#: transformers 5, one module per expert in 4.57, per-expert keys in the Hub checkpoint); the talker's MoE
#: (``talker.`` keys) never matches
MOE_PART = r"model\.(language_model\.)?layers\.\d+\.mlp\.(gate|experts)\."
#: Adam moves every trainable weight by about the learning rate per step, whatever the gradient's scale, so
#: the default rate is this share of the weights' RMS: the same relative step on a tiny or a 30B model
RELATIVE_STEP = 5e-3


def thinker_prefix(model_type: str) -> str:
    """Key prefix of the thinker's weights: ``thinker.`` in the full model, none in a thinker-only one."""
    return "" if model_type == "qwen3_omni_moe_thinker" else "thinker."


def trainable_regex(model_type: str) -> str:
    """ms-swift's ``--trainable_parameters_regex`` (after ``--freeze_parameters_ratio 1`` froze everything)."""
    return "^" + re.escape(thinker_prefix(model_type)) + MOE_PART


@dataclass(frozen=True)
class ModuleCounts:
    """Parameters of the checkpoint: the trainable MoE modules, the thinker, everything."""

    trainable: int
    thinker: int
    total: int
    layers: int  # MoE layers of the thinker

    @property
    def share_of_thinker(self) -> float:
        return self.trainable / max(self.thinker, 1)

    def describe(self) -> str:
        return (f"{self.trainable:,} parameters trained: the routers and kept experts of the thinker's {self.layers} "
                f"MoE layers, {100 * self.share_of_thinker:.1f}% of the thinker ({self.thinker:,}), "
                f"{100 * self.trainable / max(self.total, 1):.1f}% of the checkpoint ({self.total:,})")


def count_modules(facts) -> ModuleCounts:
    """Counts from ``model.preflight.check_model``'s headers of the pruned checkpoint."""
    rx = re.compile(trainable_regex(facts.config["model_type"]))
    prefix = thinker_prefix(facts.config["model_type"])
    trainable = thinker = total = 0
    for header in facts.headers.values():
        for name, info in header.items():
            n = math.prod(info.shape)
            total += n
            if name.startswith(prefix):
                thinker += n
                if rx.match(name):
                    trainable += n
    return ModuleCounts(trainable, thinker, total, len(facts.layers))


_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def _values(path: Path, info, limit: int) -> np.ndarray:
    """Up to ``limit`` values of a tensor, read from its file as float32 (bf16 widened by a bit shift)."""
    width = 2 if info.dtype in ("BF16", "F16") else np.dtype(_DTYPES.get(info.dtype, np.float32)).itemsize
    count = min(limit, (info.end - info.start) // width)
    with open(path, "rb") as f:
        f.seek(info.start)
        raw = f.read(count * width)
    if info.dtype == "BF16":
        return (np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
    return np.frombuffer(raw, dtype=_DTYPES[info.dtype]).astype(np.float32)


def weight_rms(facts, max_tensors: int = 8, per_tensor: int = 1 << 20) -> float | None:
    """RMS of the first trainable tensors of the first MoE layer (a sample: a few MB whatever the model)."""
    rx = re.compile(trainable_regex(facts.config["model_type"]))
    layer = f".layers.{facts.layers[0]}.mlp." if facts.layers else ".mlp."
    picked = sorted((name, shard, info) for shard, header in facts.headers.items() for name, info in header.items()
                    if rx.match(name) and layer in name and info.dtype in (*_DTYPES, "BF16"))
    sums, n = 0.0, 0
    for _name, shard, info in picked[:max_tensors]:
        v = _values(Path(facts.path) / shard, info, per_tensor)
        v = v[np.isfinite(v)]
        sums += float(np.square(v, dtype=np.float64).sum())
        n += v.size
    return math.sqrt(sums / n) if n else None


def default_learning_rate(facts) -> float:
    """``RELATIVE_STEP`` × the trainable weights' RMS, to 2 significant digits (1e-5 when nothing is readable)."""
    rms = weight_rms(facts)
    if not rms:
        return 1e-5
    lr = RELATIVE_STEP * rms
    return float(f"{lr:.2g}")
