"""The expert selections ``eval`` compares, all keeping the same K experts per layer: REAP-OMNI's affinity,
S1 saliency alone, REAP on the text rows alone (``reap-text``: what REAP calibrated on text keeps) and on the
union of every row with no modality weighting (``reap-all``), routing frequency, seeded random; and the kept ids
a written checkpoint saved."""

from __future__ import annotations

from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.evaluate.options import METHODS


def selections(methods: list[str], scores, layers: list[int], num_experts: int, k: int, lam: float, beta: float,
               seed: int, gamma: float = 0.0):
    """``{method: kept [L, K] int64}`` (ascending ids per layer, rows following ``layers``)."""
    import torch

    from reap_omni.prune.scores import TEXT_STRATUM, scores_affinity, select_experts

    out = {}
    for m in methods:
        if m == "reap-omni":
            out[m] = select_experts(scores_affinity(scores, lam, beta, gamma), k)
        elif m == "reap-s1":
            out[m] = select_experts(scores.saliency("S1"), k)
        elif m == "reap-text":  # REAP's saliency on S0 alone
            out[m] = select_experts(scores.saliency(TEXT_STRATUM), k)
        elif m == "reap-all":  # REAP's saliency on every row at once: sums and counts pooled over the strata
            out[m] = select_experts(scores.pooled().saliency(), k)
        elif m == "frequency":  # routing frequency over the whole calibration set (all strata's tokens)
            counts = sum(scores.strata[s].counts.double() for s in scores.strata)
            tokens = sum(scores.strata[s].tokens.double() for s in scores.strata)
            out[m] = select_experts(counts / tokens.clamp(min=1)[:, None], k)
        elif m == "random":
            gen = torch.Generator().manual_seed(seed)
            out[m] = torch.stack([torch.randperm(num_experts, generator=gen)[:k].sort().values for _ in layers])
        else:
            raise ReapOmniError(f"unknown method {m!r} (choose from {', '.join(METHODS)})")
    return out


def kept_overlap(kept: dict[str, Any]) -> dict[str, list[float]]:
    """Per layer |A ∩ B| / K for every pair of selections: ``{"a|b": [per layer]}``."""
    names = list(kept)
    out = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ka, kb = kept[a].tolist(), kept[b].tolist()
            out[f"{a}|{b}"] = [len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(ka, kb, strict=True)]
    return out


def pruned_kept(path: str):
    """The pruned checkpoint's kept ids (old numbering) from its saved scores, if it has them."""
    import json

    import torch

    from reap_omni.prune.scores import resolve_scores_path

    try:
        doc = json.loads(resolve_scores_path(path).read_text())
        return torch.tensor(doc["kept"], dtype=torch.int64)
    except (ReapOmniError, OSError, ValueError, KeyError, TypeError):
        return None

