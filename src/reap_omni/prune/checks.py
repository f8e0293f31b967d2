"""Checks of the numbers, of saved scores and of a pruned folder against the model, before any weight is read.

Scores computed on another model, or a ``--pruned`` folder that is not a pruned copy of ``--model``, used to
surface after a 60 GB load, or not at all. Each check compares against the model's one description
(``ModelInfo``, from ``preflight.check_model``); scores are matched by its fingerprint (the sha256 of the
component's text config, stored in the scores as ``text_config_sha256``). ``scores`` (torch) is imported
where scores are read, so ``prune`` and ``eval`` check their options before torch loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from reap_omni.errors import ReapOmniError
from reap_omni.model.info import ModelInfo
from reap_omni.model.preflight import check_model

if TYPE_CHECKING:
    from reap_omni.prune.scores import Scores


def check_numbers(facts: ModelInfo, lam: float, beta: float, retention_rate: float | None,
                  gamma: float = 0.0) -> int | None:
    """λ, β, γ finite and >= 0; the retention rate in (0, 1], keeping at least top-k of the model's experts.
    Returns the experts kept per layer (None without a retention rate)."""
    from reap_omni.prune.scores import check_weights, num_kept

    check_weights(lam, beta, gamma)
    return None if retention_rate is None else num_kept(retention_rate, facts.num_experts, facts.top_k)


def check_scores(path: str, facts: ModelInfo) -> Scores:
    """Saved scores, read and checked against the model: the component, MoE layers and expert count, the
    tensors' shapes against the JSON, finite values, and the config hash they were computed on."""
    from reap_omni.prune.scores import check_scores_fit, load_scores

    scores = load_scores(path)
    check_scores_fit(scores, facts.component, facts.layers, facts.num_experts, path)
    want = scores.meta.get("text_config_sha256") if isinstance(scores.meta, dict) else None
    have = facts.fingerprint
    if want and want != have:
        raise ReapOmniError(
            f"{path} was computed on a model whose {facts.component} config differs from {facts.path}'s (config "
            f"hash {str(want)[:12]} vs {have[:12]}); use the scores of this model, or score it"
        )
    return scores


def check_pruned(pruned_path: str | Path, original: ModelInfo) -> ModelInfo:
    """A ``--pruned`` folder: a sound checkpoint (as ``check_model``) with fewer experts than ``original`` in
    the same MoE layers; scores saved in it, if any, must belong to ``original``."""
    pruned = check_model(pruned_path, original.component)
    same = (pruned.layers == original.layers and pruned.top_k == original.top_k
            and pruned.text_config["hidden_size"] == original.text_config["hidden_size"])
    if not same:
        raise ReapOmniError(
            f"--pruned {pruned.path} is not a pruned copy of {original.path}: its {original.component} has "
            f"{len(pruned.layers)} MoE layers of hidden size {pruned.text_config['hidden_size']}, the original "
            f"{len(original.layers)} of {original.text_config['hidden_size']}; pass the folder prune wrote"
        )
    if pruned.num_experts >= original.num_experts:
        raise ReapOmniError(
            f"--pruned {pruned.path} has {pruned.num_experts} experts per MoE layer, as many as {original.path}: "
            "it is not pruned; pass the folder `reap-omni prune` wrote"
        )
    from reap_omni.prune.scores import LEGACY_SCORES_FILE, scores_in_folder

    saved = scores_in_folder(pruned.path)
    saved = saved if saved.is_file() else pruned.path / LEGACY_SCORES_FILE
    if saved.is_file():
        check_scores(str(saved), original)
    return pruned
