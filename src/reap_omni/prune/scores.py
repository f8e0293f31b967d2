"""REAP-OMNI audio affinity, expert selection, and the saved score files.

A = S1 + λ·ReLU(S3 − β·S2) rewards experts salient for audio, plus the salience audio adds on top of
video alone. Raw sums and counts are stored per stratum, so A and the selection can be recomputed for
any λ, β or retention rate later (``--from-scores``) without running the model again.

The text stratum S0 (``--text-data``) is optional: its sums and counts are stored like the others when it was
calibrated, and ``--gamma G`` adds ``G·S0`` to A for users who want text ability protected; G = 0 (the default)
leaves REAP-OMNI's formula as it is. Scores without S0 (every earlier release's) still load.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from reap_omni.errors import ReapOmniError
from reap_omni.fileio import atomic_output, atomic_write_bytes
from reap_omni.prune.observer import StratumStats

STRATA = ("S1", "S2", "S3")
#: the optional text stratum, stored after the three above when calibrated
TEXT_STRATUM = "S0"
SCORES_FORMAT = "reap-omni-scores/1"
#: Where a pruned folder keeps its scores: a subfolder, so that the folder's top-level ``*.safetensors`` are
#: exactly the index's weight shards (tools that glob ``*.safetensors`` would load the F64/I64 score tensors).
SCORES_DIR = "reap_omni"
SCORES_FILE = "scores.json"
#: The layout before ``reap_omni/``: score files beside the weights. Still read by ``--from-scores``.
LEGACY_SCORES_FILE = "reap_omni_scores.json"


@dataclass
class Scores:
    """Calibration statistics of one component, plus what is needed to check they fit a checkpoint."""

    component: str
    layers: list[int]
    num_experts: int
    top_k: int
    strata: dict[str, StratumStats]
    meta: dict[str, Any] = field(default_factory=dict)

    def saliency(self, stratum: str) -> torch.Tensor:
        if stratum not in self.strata:
            raise ReapOmniError(f"the scores hold no {stratum} statistics"
                                + (": calibrate with --text-data to get them" if stratum == TEXT_STRATUM else ""))
        return self.strata[stratum].saliency()

    @property
    def has_text(self) -> bool:
        return TEXT_STRATUM in self.strata

    def pooled(self) -> StratumStats:
        """Every stratum's statistics summed: REAP on the union of all rows, no modality weighting."""
        parts = list(self.strata.values())
        return StratumStats(sum(p.sums for p in parts), sum(p.counts for p in parts), sum(p.tokens for p in parts))


def affinity(s1: torch.Tensor, s2: torch.Tensor, s3: torch.Tensor, lam: float, beta: float,
             s0: torch.Tensor | None = None, gamma: float = 0.0) -> torch.Tensor:
    """A_audio = S1 + λ·ReLU(S3 − β·S2) (+ γ·S0 when γ > 0), element-wise over [layers, experts]."""
    a = s1 + lam * torch.relu(s3 - beta * s2)
    return a + gamma * s0 if gamma and s0 is not None else a


def scores_affinity(scores: Scores, lam: float, beta: float, gamma: float = 0.0) -> torch.Tensor:
    """REAP-OMNI's affinity of ``scores``; γ > 0 needs the S0 statistics."""
    s0 = scores.saliency(TEXT_STRATUM) if gamma else None
    return affinity(scores.saliency("S1"), scores.saliency("S2"), scores.saliency("S3"), lam, beta, s0, gamma)


def num_kept(retention_rate: float, num_experts: int, top_k: int) -> int:
    """K = round(retention_rate·E) (halves round up); the same K for every layer, and never below top-k."""
    if not (0.0 < retention_rate <= 1.0) or math.isnan(retention_rate):
        raise ReapOmniError(f"--retention-rate must be in (0, 1], got {retention_rate}")
    k = min(num_experts, math.floor(retention_rate * num_experts + 0.5))
    if k < top_k:
        raise ReapOmniError(
            f"--retention-rate {retention_rate} keeps {k} of {num_experts} experts per layer, fewer than the "
            f"{top_k} experts each token is routed to (num_experts_per_tok); raise the retention rate to at least "
            f"{top_k / num_experts:.4g}"
        )
    return k


def check_weights(lam: float, beta: float, gamma: float = 0.0) -> None:
    """λ, β and γ weigh non-negative saliencies: a NaN, infinite or negative one makes every score NaN or flips
    what A rewards, so the selection would be arbitrary. Refused before anything is loaded."""
    for flag, value in (("--lambda", lam), ("--beta", beta), ("--gamma", gamma)):
        if not (math.isfinite(value) and value >= 0):
            raise ReapOmniError(f"{flag} must be a finite number >= 0, got {value}")


def select_experts(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Top-``k`` expert ids per layer by score, ties to the lower id, returned sorted ascending: [L, K]."""
    # A stable sort keeps equal scores in id order, so ties go to the lower expert id.
    order = torch.argsort(-scores.double(), dim=1, stable=True)
    return order[:, :k].sort(dim=1).values


@dataclass
class Selection:
    affinity: torch.Tensor  # [L, E]
    kept: torch.Tensor  # [L, K] int64, ascending per layer
    lam: float
    beta: float
    retention_rate: float
    gamma: float = 0.0

    @property
    def k(self) -> int:
        return int(self.kept.shape[1])


def select(scores: Scores, lam: float, beta: float, retention_rate: float, gamma: float = 0.0) -> Selection:
    check_weights(lam, beta, gamma)
    k = num_kept(retention_rate, scores.num_experts, scores.top_k)
    a = scores_affinity(scores, lam, beta, gamma)
    return Selection(a, select_experts(a, k), lam, beta, retention_rate, gamma)


# -- files ------------------------------------------------------------------------------------------

def tensor_path_for(json_path: str | os.PathLike[str]) -> Path:
    return Path(json_path).with_suffix(".safetensors")


def save_scores(path: str | os.PathLike[str], scores: Scores, sel: Selection) -> tuple[Path, Path]:
    """Write the JSON summary and the tensor file beside it, each atomically."""
    from safetensors.torch import save as st_save

    json_path = Path(path)
    tensors: dict[str, torch.Tensor] = {
        "layers": torch.tensor(scores.layers, dtype=torch.int64),
        "affinity": sel.affinity.double().contiguous(),
        "kept": sel.kept.contiguous(),
    }
    doc: dict[str, Any] = {
        "format": SCORES_FORMAT, "component": scores.component, "layers": scores.layers,
        "num_experts": scores.num_experts, "num_experts_per_tok": scores.top_k,
        "lambda": sel.lam, "beta": sel.beta, "gamma": sel.gamma, "retention_rate": sel.retention_rate,
        "kept_per_layer": sel.k,
        "meta": scores.meta, "strata": {}, "affinity": sel.affinity.tolist(), "kept": sel.kept.tolist(),
    }
    for name in [*STRATA, *([TEXT_STRATUM] if scores.has_text else [])]:
        st = scores.strata[name]
        tensors[f"{name}_sums"] = st.sums.contiguous()
        tensors[f"{name}_counts"] = st.counts.contiguous()
        tensors[f"{name}_tokens"] = st.tokens.contiguous()
        tensors[f"{name}"] = st.saliency().contiguous()
        doc["strata"][name] = {
            "saliency": st.saliency().tolist(), "counts": st.counts.tolist(), "tokens": st.tokens.tolist(),
            "frequency": st.frequency().tolist(),
        }
    tpath = tensor_path_for(json_path)
    atomic_write_bytes(tpath, st_save(tensors, metadata={"format": SCORES_FORMAT}))
    with atomic_output(json_path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    return json_path, tpath


def scores_in_folder(folder: str | os.PathLike[str]) -> Path:
    """The scores JSON of a pruned model folder (``reap_omni/scores.json``)."""
    return Path(folder) / SCORES_DIR / SCORES_FILE


def resolve_scores_path(path: str | os.PathLike[str]) -> Path:
    """The scores JSON that ``path`` names: a scores JSON or tensor file, or a pruned model folder.

    Both layouts are accepted: ``<folder>/reap_omni/scores.json`` (current) and
    ``<folder>/reap_omni_scores.json`` (before the subfolder). A legacy file path whose folder has since
    been rewritten in the current layout resolves to the current file.
    """
    p = Path(path)
    if p.is_dir():
        for cand in (scores_in_folder(p), p / LEGACY_SCORES_FILE):
            if cand.is_file():
                return cand
        raise ReapOmniError(
            f"no scores in {p}: expected {SCORES_DIR}/{SCORES_FILE} (or {LEGACY_SCORES_FILE}, the older layout)"
        )
    json_path = p.with_suffix(".json") if p.suffix == ".safetensors" else p
    if not json_path.is_file() and json_path.name == LEGACY_SCORES_FILE and scores_in_folder(p.parent).is_file():
        return scores_in_folder(p.parent)
    return json_path


def load_scores(path: str | os.PathLike[str]) -> Scores:
    """Read scores written by ``save_scores``: the JSON path, the tensor file path, or a pruned folder."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    json_path = resolve_scores_path(path)
    tpath = tensor_path_for(json_path)
    for f in (json_path, tpath):
        if not f.is_file():
            raise ReapOmniError(f"scores file not found: {f} (written by --scores-out or beside a pruned model)")
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8 (a .png given)
        raise ReapOmniError(f"cannot read scores {json_path}: {exc}; give --scores-out's .json file") from None
    try:
        tensors = load_file(tpath)
    except (OSError, ValueError, SafetensorError) as exc:
        raise ReapOmniError(f"cannot read scores {tpath}: {exc}; recompute the scores (--scores-out)") from None
    if not isinstance(doc, dict) or doc.get("format") != SCORES_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        raise ReapOmniError(f"{json_path} is not a reap-omni scores file (format {fmt!r})")
    layers, n_exp, top_k = doc.get("layers"), doc.get("num_experts"), doc.get("num_experts_per_tok")
    if not (isinstance(layers, list) and layers and all(_is_int(v, 0) for v in layers) and _is_int(n_exp, 1)
            and _is_int(top_k, 1) and top_k <= n_exp and doc.get("component") in ("thinker", "talker")):
        raise ReapOmniError(f"{json_path} is corrupt (layers, num_experts, num_experts_per_tok or component "
                            "missing or invalid): recompute the scores (--scores-out)")
    try:
        strata = {
            s: StratumStats(tensors[f"{s}_sums"], tensors[f"{s}_counts"], tensors[f"{s}_tokens"]) for s in STRATA
        }
    except KeyError as exc:
        raise ReapOmniError(f"{tpath} lacks tensor {exc}") from None
    if f"{TEXT_STRATUM}_sums" in tensors:  # optional: calibrated with --text-data
        try:
            strata[TEXT_STRATUM] = StratumStats(*(tensors[f"{TEXT_STRATUM}_{p}"] for p in ("sums", "counts", "tokens")))
        except KeyError as exc:
            raise ReapOmniError(f"{tpath} lacks tensor {exc}") from None
    for name, st in strata.items():
        _check_stratum(tpath, json_path, name, st, len(layers), n_exp)
    return Scores(doc["component"], list(layers), n_exp, top_k, strata, doc.get("meta", {}))


def _is_int(v: object, least: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _check_stratum(tpath: Path, json_path: Path, name: str, st: StratumStats, n_layers: int, n_exp: int) -> None:
    """The tensors must have the shapes the JSON claims and hold finite, non-negative statistics: a tensor of
    fewer layers or experts would fail later or silently drop experts from every selection."""
    want = {"sums": (n_layers, n_exp), "counts": (n_layers, n_exp), "tokens": (n_layers,)}
    for part, shape in want.items():
        t = getattr(st, part)
        key = f"{name}_{part}"
        if tuple(t.shape) != shape:
            raise ReapOmniError(
                f"{tpath}: {key} has shape {list(t.shape)}, but {json_path.name} claims {n_layers} MoE layers x "
                f"{n_exp} experts: the two files do not belong together; recompute the scores (--scores-out)"
            )
        if t.dtype.is_floating_point != (part == "sums") or t.dtype.is_complex:
            raise ReapOmniError(f"{tpath}: {key} has dtype {t.dtype}: the scores are corrupt; recompute them")
        bad = ~torch.isfinite(t) | (t < 0) if t.dtype.is_floating_point else t < 0
        if bool(bad.any()):
            raise ReapOmniError(f"{tpath}: {key} holds NaN, infinite or negative values: the scores are corrupt; "
                                "recompute them (--scores-out)")


def check_scores_fit(scores: Scores, component: str, layers: list[int], num_experts: int, source: str) -> None:
    """Refuse scores computed for another component or a model with other layers/expert counts."""
    if scores.component != component:
        raise ReapOmniError(f"{source} holds {scores.component} scores, but --component is {component}")
    if scores.layers != layers or scores.num_experts != num_experts:
        raise ReapOmniError(
            f"{source} was computed for {len(scores.layers)} MoE layers x {scores.num_experts} experts, "
            f"the model has {len(layers)} x {num_experts}"
        )
