"""How much of the pruning gap a later checkpoint (a healed one) closes, from ``eval.json``'s strata.

With several ``--pruned`` checkpoints, the first is the reference (the pruned model) and each later one is
compared with it: the recovered share of a metric is ``(ref - ckpt) / (ref - original)``, 1 when the
checkpoint matches the original, 0 when it is no better than the reference, negative when worse. The same
formula serves metrics that fall (NLL, KL, WER/CER) and rise (top-1) towards the original. Pooled values
weight each stratum by its answer tokens (every model scores the same tokens), so they are the metrics over
all answer tokens of all strata.
"""

from __future__ import annotations

from typing import Any

from reap_omni.errors import ReapOmniError

#: metrics averaged over answer tokens (pooled across strata), then the per-row rates
TOKEN_METRICS = ("kl", "nll", "top1")
RATE_METRICS = ("wer", "cer")


def parse_named_checkpoints(values: list[str], default_name: str, reserved: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--pruned`` values: ``PATH`` (one, named ``default_name``) or ``NAME=PATH`` each; names unique and
    not in ``reserved`` (the original and the selections share the report's columns)."""
    out: list[tuple[str, str]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or "/" in name or "\\" in name:
            name, path = "", value
        if not name:
            if len(values) > 1:
                raise ReapOmniError(f"--pruned {value}: name each checkpoint when giving several, e.g. "
                                    "--pruned pruned=./Qwen3-Omni-pruned --pruned healed=./heal/output/...")
            name = default_name
        if name in reserved:
            raise ReapOmniError(f"--pruned {value}: the name {name!r} is taken ({', '.join(reserved)}); "
                                "choose another")
        if any(name == n for n, _ in out):
            raise ReapOmniError(f"--pruned names {name!r} twice")
        if not path:
            raise ReapOmniError(f"--pruned {value}: no path after '='")
        out.append((name, path))
    return out


def share(reference: float | None, value: float | None, original: float | None) -> float | None:
    """``(reference - value) / (reference - original)``; ``None`` when a value is missing or there is no gap."""
    if reference is None or value is None or original is None:
        return None
    gap = reference - original
    if gap == 0:
        return None
    return (reference - value) / gap


def pooled(strata: dict[str, dict[str, dict[str, Any]]], method: str) -> dict[str, Any]:
    """The token-weighted means of ``TOKEN_METRICS`` over every stratum that scored ``method``."""
    tokens = 0
    sums = dict.fromkeys(TOKEN_METRICS, 0.0)
    for methods in strata.values():
        r = methods.get(method)
        if not r or not r.get("tokens") or any(r.get(m) is None for m in TOKEN_METRICS):
            continue
        tokens += r["tokens"]
        for m in TOKEN_METRICS:
            sums[m] += r[m] * r["tokens"]
    out: dict[str, Any] = {m: (sums[m] / tokens if tokens else None) for m in TOKEN_METRICS}
    out["tokens"] = tokens
    return out


def recovery(strata: dict[str, dict[str, dict[str, Any]]], checkpoints: list[str],
             original: str = "original") -> dict[str, Any] | None:
    """The recovered shares of ``checkpoints[1:]`` against ``checkpoints[0]``; ``None`` with fewer than two."""
    if len(checkpoints) < 2:
        return None
    ref, later = checkpoints[0], checkpoints[1:]
    per_stratum: dict[str, dict[str, dict[str, float | None]]] = {}
    for stratum, methods in strata.items():
        o, r = methods.get(original, {}), methods.get(ref, {})
        per_stratum[stratum] = {
            name: {m: share(r.get(m), methods.get(name, {}).get(m), o.get(m))
                   for m in (*TOKEN_METRICS, *RATE_METRICS) if m in r}
            for name in later
        }
    pools = {m: pooled(strata, m) for m in (original, ref, *later)}
    pooled_share = {name: {m: share(pools[ref][m], pools[name][m], pools[original][m]) for m in TOKEN_METRICS}
                    for name in later}
    return {"reference": ref, "strata": per_stratum, "pooled": pools, "pooled_share": pooled_share}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}%"


def recovery_markdown(rec: dict[str, Any], labels: dict[str, str]) -> list[str]:
    """eval.md's section: KL per stratum (reference, checkpoint, recovered share), then pooled."""
    ref = rec["reference"]
    strata = list(rec["strata"])
    lines = [f"## Recovery (share of the original–`{ref}` gap each checkpoint closes)", ""]
    head = ["checkpoint", *[f"KL {labels.get(s, s)}" for s in strata], "KL pooled", "NLL pooled", "top-1 pooled"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, shares in rec["pooled_share"].items():
        cells = [name, *[_pct(rec["strata"][s][name].get("kl")) for s in strata],
                 _pct(shares["kl"]), _pct(shares["nll"]), _pct(shares["top1"])]
        lines.append("| " + " | ".join(cells) + " |")
    pools = rec["pooled"]
    lines += ["", "Pooled over all answer tokens (" + str(pools[ref]["tokens"]) + "): "
              + ", ".join(f"`{m}` KL {pools[m]['kl']:.4f}" for m in pools if pools[m]["kl"] is not None), ""]
    return lines
