"""``eval``'s retention axis: every selection at every retention, the pruned thinker's size at each, and the
retentions worth writing.

* ``lay_out``: the runner's ``(method, retention)`` results become ``eval.json``'s ``strata`` (every method at the
  first retention, as a one-value run writes it) and ``retention.strata`` (stratum -> method -> retention -> result).
* ``worth_keeping``: by REAP-OMNI's worst-stratum KL (what ``prune`` writes): the largest retention evaluated, the
  knee (the upper end of the steepest rise of the KL as experts are removed) and the smallest retention whose KL is
  at most twice the largest one's; ``prune_commands`` writes each with ``prune --from-scores`` (no recalibration).
* ``markdown`` / ``retention_png``: a table per stratum (methods x retentions) and KL and NLL against retention per
  stratum, one line per method, the thinker's size (parameters, bf16 GB) on a second axis.
"""

from __future__ import annotations

import shlex
from typing import Any

#: stratum labels of the tables and plots
STRATUM_LABELS = {"S1": "S1 audio", "S2": "S2 video", "S3": "S3 audio+video", "S0": "S0 text"}
PNG = "eval_retention.png"


def rate_key(rate: float) -> str:
    """A retention as ``eval.json`` keys it: ``0.25``, ``0.5``, ``1``."""
    return f"{rate:g}"


def lay_out(strata: dict[str, dict[Any, dict[str, Any]]], rates: list[float]) -> tuple[dict, dict]:
    """``(strata, axis)`` from results keyed by name or ``(method, retention)``; the order of names is kept."""
    flat: dict[str, dict[str, Any]] = {}
    axis: dict[str, dict[str, dict[str, Any]]] = {}
    for stratum, results in strata.items():
        flat[stratum] = {}
        for label, result in results.items():
            if isinstance(label, tuple):
                method, rate = label
                axis.setdefault(stratum, {}).setdefault(method, {})[rate_key(rate)] = result
                if rate == rates[0]:
                    flat[stratum][method] = result
            else:
                flat[stratum][label] = result
    return flat, axis


def _worst_kl(axis: dict[str, Any], method: str, rate: float) -> float | None:
    values = [axis[s][method][rate_key(rate)].get("kl") for s in axis if method in axis[s]]
    values = [v for v in values if v is not None]
    return max(values) if values else None


def worth_keeping(axis: dict[str, Any], rates: list[float], method: str = "reap-omni") -> list[float]:
    """The two or three retentions worth writing (descending), judged by ``method``'s worst-stratum KL."""
    curve = [(r, _worst_kl(axis, method, r)) for r in sorted(rates)]
    curve = [(r, kl) for r, kl in curve if kl is not None]
    if not curve:
        return []
    below_one = [r for r, _ in curve if r < 1] or [curve[-1][0]]
    largest = max(below_one)
    kl_of = dict(curve)
    chosen = {largest}
    steep = [((kl_of[a] - kl_of[b]) / (b - a), b) for (a, _), (b, _) in zip(curve, curve[1:], strict=False)
             if b <= largest]
    if steep:
        chosen.add(max(steep)[1])  # the knee: below it each removed expert costs the most
    budget = 2 * kl_of[largest]
    affordable = [r for r, kl in curve if kl <= budget and r <= largest]
    if affordable:
        chosen.add(min(affordable))
    return sorted(chosen, reverse=True)[:3]


def prune_commands(meta: dict[str, Any], keep: list[float]) -> list[str]:
    """``reap-omni prune --from-scores`` for each retention of ``keep``: REAP-OMNI's selection, as ``prune`` writes
    it, with this run's λ, β and γ."""
    scores, model = meta.get("scores"), str(meta.get("model_path") or "/path/to/model")
    if not scores:
        return []
    out = []
    for rate in keep:
        args = ["reap-omni", "prune", "--model-path", model, "--from-scores", str(scores), "--retention-rate",
                rate_key(rate), "--output-path", f"{model.rstrip('/')}-pruned-{rate_key(rate)}"]
        for flag, key, default in (("--lambda", "lambda", 1.0), ("--beta", "beta", 1.0), ("--gamma", "gamma", 0.0)):
            if meta.get(key) not in (None, default):
                args += [flag, f"{meta[key]:g}"]
        out.append(" ".join(shlex.quote(a) for a in args))
    return out


def _size(size: dict[str, Any] | None) -> str:
    if not size:
        return "–"
    n = size["parameters"]
    count = f"{n / 1e9:.2f} B" if n >= 1e8 else f"{n / 1e6:.2f} M"
    return f"{count} ({size['bf16_gb']:.2f} GB bf16)" if size["bf16_gb"] >= 0.1 else count


def _cell(v: Any, digits: int = 4) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def markdown_tables(doc: dict[str, Any]) -> list[str]:
    """The retention tables of ``eval.md``: per stratum, methods x retentions, and the thinker's size."""
    ret = doc.get("retention") or {}
    rates, axis = ret.get("rates") or [], ret.get("strata") or {}
    if not axis:
        return []
    keys = [rate_key(r) for r in sorted(rates)]
    sizes = ret.get("size") or {}
    lines = ["## Retention", "", "Cells: KL(original ‖ method) / NLL of the answer tokens, per retention (the share of "
             "experts every selection keeps per layer). Size: the pruned thinker, exact from the config.", ""]
    for stratum, methods in axis.items():
        original = (doc["strata"].get(stratum) or {}).get("original") or {}
        lines += [f"### {STRATUM_LABELS.get(stratum, stratum)} (original NLL {_cell(original.get('nll'))})", "",
                  "| method | " + " | ".join(f"retention {k}" for k in keys) + " |", "|" + "---|" * (len(keys) + 1)]
        for method, by_rate in methods.items():
            cells = [f"{_cell((by_rate.get(k) or {}).get('kl'))} / {_cell((by_rate.get(k) or {}).get('nll'))}"
                     for k in keys]
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
        lines.append("| thinker size | " + " | ".join(_size(sizes.get(k)) for k in keys) + " |")
        lines.append("")
    return lines


def markdown_commands(doc: dict[str, Any]) -> list[str]:
    """The end of ``eval.md``: the retentions worth writing and the ``prune --from-scores`` command of each."""
    ret = doc.get("retention") or {}
    keep, commands = ret.get("worth_keeping") or [], ret.get("commands") or []
    lines: list[str] = []
    if commands:
        lines += ["## Retentions worth writing", "",
                  f"By REAP-OMNI's worst-stratum KL: {', '.join(rate_key(r) for r in keep)} (the largest retention "
                  "evaluated, the knee where removing experts starts to cost the most, and the smallest retention "
                  "within twice the largest one's KL). Each command writes that checkpoint from the saved scores, "
                  "without calibrating again:", "", "```bash", *commands, "```", ""]
    return lines


def retention_png(doc: dict[str, Any]) -> bytes:
    """KL (top row) and NLL (bottom row) against retention, one column per stratum, one line per method; the top
    axis names the thinker's size at each retention."""
    from reap_omni.evaluate.plotting import png, pyplot

    plt = pyplot()
    ret = doc["retention"]
    rates, axis, sizes = ret["rates"], ret["strata"], ret.get("size") or {}
    strata = list(axis)
    fig, axes = plt.subplots(2, len(strata), figsize=(max(4.5, 3.2 * len(strata)), 5.6), dpi=80,
                             layout="constrained", squeeze=False)
    xs = sorted(rates)
    for col, stratum in enumerate(strata):
        original = (doc["strata"].get(stratum) or {}).get("original") or {}
        for row, (key, title) in enumerate((("kl", "KL(original ‖ method)"), ("nll", "NLL of the answer tokens"))):
            ax = axes[row][col]
            for method, by_rate in axis[stratum].items():
                ys = [(by_rate.get(rate_key(r)) or {}).get(key) for r in xs]
                ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", markersize=3, label=method)
            if key == "nll" and original.get("nll") is not None:
                ax.axhline(original["nll"], color="grey", linestyle="--", linewidth=1, label="original")
            ax.set_xlabel("retention (share of experts kept)")
            ax.set_title(f"{STRATUM_LABELS.get(stratum, stratum)}: {title}", fontsize="medium")
            if row == 0 and sizes:
                top = ax.secondary_xaxis("top")
                top.set_xticks(xs, [_size(sizes.get(rate_key(r))).replace(" (", "\n(") for r in xs],
                               fontsize="x-small")
                top.set_xlabel("pruned thinker size", fontsize="x-small")
    handles, labels = axes[1][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 4), fontsize="small", frameon=False)
    return png(fig, plt)
