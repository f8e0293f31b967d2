"""What ``reap-omni eval`` writes: ``eval.json``, ``eval.md``, ``eval_rows.jsonl`` and up to three PNGs.

* ``eval_nll_kl.png``: mean NLL and KL(original ‖ method) per stratum, one bar per method.
* ``eval_overlap.png``: per MoE layer, the share of kept experts two selections have in common.
* ``eval_retention.png``: KL and NLL against retention per stratum, with the thinker's size (``retention``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from reap_omni.fileio import atomic_output, atomic_write_bytes, staged_folder
from reap_omni.output_guard import Output, check_state, replaced_folder

PLOTS = {"eval_nll_kl.png": "mean NLL and KL per method and stratum",
         "eval_overlap.png": "per-layer kept-set overlap between methods",
         "eval_retention.png": "KL and NLL against retention per stratum, with the pruned thinker's size"}
STRATUM_LABELS = {"S1": "S1 audio", "S2": "S2 video", "S3": "S3 audio+video", "S0": "S0 text"}
_log = logging.getLogger(__name__)


#: Every file eval writes into ``--output``; a folder holding these alone is a previous eval output.
OUTPUT_FILES = ("eval.json", "eval.md", "eval_rows.jsonl", *PLOTS)


def is_eval_output(folder: Path) -> bool:
    """A folder an earlier eval wrote: an ``eval.json`` of ours and nothing but eval's own files (or temps of a
    killed run), so that replacing it as a whole loses nothing of the user's."""
    try:
        names = [e.name for e in folder.iterdir()]
        with open(folder / "eval.json", "rb") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    meta = doc.get("meta") if isinstance(doc, dict) else None
    ours = isinstance(meta, dict) and str(meta.get("format", "")).startswith("reap-omni-eval/")
    return ours and all(n in OUTPUT_FILES or (n.startswith(".") and ".tmp-" in n) for n in names)


def output_folder(path: str | Path) -> Output:
    """``--output`` for the guard: replaced as a whole, when empty or a previous eval output (no flag needed)."""
    return replaced_folder(path, "--output", is_eval_output, needs_overwrite=False)


def write_output_set(out: Path, doc: dict[str, Any], row_records: list[dict[str, Any]]) -> list[Path]:
    """Write the whole set as one: into a temp folder beside ``out``, then swapped in (``fileio.commit_folder``).

    A kill mid-write leaves the previous set (or none), never one run's ``eval.json`` beside another's plots
    or rows; the next run removes the temp folder. Writing file by file into ``out`` could not promise that,
    which is why ``--output`` must be a folder of eval's own (``is_eval_output``) or empty.
    """
    with staged_folder(out, before_commit=lambda: check_state(output_folder(out), out, overwrite=False)) as tmp:
        written = write_outputs(tmp, doc, row_records)
    return [out / p.name for p in written]


def write_outputs(folder: Path, doc: dict[str, Any], row_records: list[dict[str, Any]]) -> list[Path]:
    written = [folder / "eval.json", folder / "eval.md", folder / "eval_rows.jsonl"]
    with atomic_output(folder / "eval.json", "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    with atomic_output(folder / "eval_rows.jsonl", "w") as f:
        for r in row_records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from reap_omni.install_hint import install_command

        _log.warning("eval: no plots (matplotlib is missing): %s", install_command("prune"))
        plots = []
    else:
        atomic_write_bytes(folder / "eval_nll_kl.png", nll_kl_png(doc))
        plots = ["eval_nll_kl.png"]
        if doc["meta"].get("overlap"):
            atomic_write_bytes(folder / "eval_overlap.png", overlap_png(doc))
            plots.append("eval_overlap.png")
        if (doc.get("retention") or {}).get("strata"):
            from reap_omni.evaluate.retention import retention_png

            atomic_write_bytes(folder / "eval_retention.png", retention_png(doc))
            plots.append("eval_retention.png")
        written += [folder / p for p in plots]
    with atomic_output(folder / "eval.md", "w") as f:
        f.write(markdown(doc, plots))
    return written


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown(doc: dict[str, Any], plots: list[str]) -> str:
    meta = doc["meta"]
    lines = ["# REAP-OMNI evaluation", ""]
    k, e = meta.get("kept_per_layer"), meta.get("num_experts")
    lines.append(f"- model: `{meta.get('model_path')}`")
    if meta.get("scores"):
        lines.append(f"- scores: `{meta['scores']}`")
    if k is not None:
        gamma = f", γ = {meta['gamma']}" if meta.get("gamma") else ""
        lines.append(f"- retention {meta.get('retention_rate')}: {k} of {e} experts kept in each of "
                     f"{len(meta.get('layers', []))} MoE layers (λ = {meta.get('lambda')}, β = {meta.get('beta')}"
                     f"{gamma}, random seed {meta.get('seed')})")
        rates = meta.get("retention_rates") or []
        if len(rates) > 1:
            lines.append(f"- retention sweep: {', '.join(f'{r:g}' for r in rates)} on the one loaded model (the tables "
                         f"per stratum show {rates[0]:g}; the Retention section shows all)")
    if meta.get("pruned"):
        lines.append(f"- pruned checkpoint: `{meta['pruned']}`")
    for name, path in (meta.get("checkpoints") or {}).items():
        lines.append(f"- checkpoint `{name}`: `{path}`")
    lines.append(f"- KL(original ‖ method) over the original's top-{meta.get('kl_top_k')} tokens plus a tail bucket "
                 "(a lower bound of the exact KL; exact when k = vocabulary); top-1 = share of answer tokens whose "
                 "most likely token is the original's")
    held = meta.get("held_out") or {}
    if held.get("checked_against"):
        lines.append(f"- held out: no row is a calibration row of {', '.join(held['checked_against'])}"
                     + (f" ({len(held['calibration_rows_skipped'])} dropped)" if held.get("calibration_rows_skipped")
                        else ""))
    else:
        lines.append("- held out: not checked (no calibration lock and no rows in the scores' provenance)")
    flagged = {s: ids for s, ids in (held.get("eval_split_rows") or {}).items() if ids}
    if flagged:
        lines.append("- rows from benchmark evaluation splits: "
                     + ", ".join(f"{s} {len(ids)}" for s, ids in flagged.items()))
    lines.append(f"- {meta.get('dtype')} on {meta.get('device')}, {meta.get('seconds')} s in all")
    lines.append("")
    for stratum, methods in doc["strata"].items():
        lines += [f"## {STRATUM_LABELS.get(stratum, stratum)}", ""]
        has_wer = any("wer" in r for r in methods.values())
        has_cer = any("cer" in r for r in methods.values())
        head = ["method", "rows", "tokens", "NLL", "PPL", "KL", "top-1"]
        head += ["WER"] * has_wer + ["CER"] * has_cer + ["s (teacher-forced)"]
        head += ["s (transcripts)"] * (has_wer or has_cer)
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, r in methods.items():
            cells = [name, _fmt(r.get("rows")), _fmt(r.get("tokens")), _fmt(r.get("nll")), _fmt(r.get("ppl"), 2),
                     _fmt(r.get("kl")), _fmt(r.get("top1"), 3)]
            if has_wer:
                cells.append(_fmt(r.get("wer"), 3))
            if has_cer:
                cells.append(_fmt(r.get("cer"), 3))
            cells.append(_fmt(r.get("seconds"), 2))
            if has_wer or has_cer:
                cells.append(_fmt(r.get("gen_seconds"), 2))
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    from reap_omni.evaluate.retention import markdown_commands, markdown_tables

    lines += markdown_tables(doc)
    if doc.get("recovery"):
        from reap_omni.evaluate.recovery import recovery_markdown

        lines += recovery_markdown(doc["recovery"], STRATUM_LABELS)
    overlap = meta.get("overlap") or {}
    if overlap:
        lines += ["## Kept-set overlap (mean over layers of |A ∩ B| / K)", "", "| methods | overlap |", "|---|---|"]
        for pair, per_layer in overlap.items():
            a, b = pair.split("|")
            lines.append(f"| {a} · {b} | {sum(per_layer) / max(len(per_layer), 1):.3f} |")
        lines.append("")
    for p in plots:
        lines += [f"![{PLOTS[p]}]({p})", ""]
    lines += markdown_commands(doc)  # the report ends with the commands that write what it recommends
    return "\n".join(lines)


def _pyplot():
    from reap_omni.evaluate.plotting import pyplot

    return pyplot()


def _png(fig, plt) -> bytes:
    from reap_omni.evaluate.plotting import png

    return png(fig, plt)


def nll_kl_png(doc: dict[str, Any]) -> bytes:
    plt = _pyplot()
    strata = list(doc["strata"])
    methods: list[str] = []
    for s in strata:
        methods += [m for m in doc["strata"][s] if m not in methods]
    fig, axes = plt.subplots(1, 2, figsize=(max(7.0, 2.2 + 1.3 * len(strata) * max(len(methods), 1) * 0.35), 3.8),
                             dpi=100, layout="constrained")
    width = 0.8 / max(len(methods), 1)
    for ax, key, title in ((axes[0], "nll", "mean NLL of the answer tokens"),
                           (axes[1], "kl", "KL(original ‖ method) per token")):
        for i, m in enumerate(methods):
            xs = [j + (i - (len(methods) - 1) / 2) * width for j in range(len(strata))]
            vals = [doc["strata"][s].get(m, {}).get(key) for s in strata]
            ax.bar(xs, [v if v is not None else 0.0 for v in vals], width=width, label=m)
        ax.set_xticks(range(len(strata)), [STRATUM_LABELS.get(s, s) for s in strata])
        ax.set_title(title, fontsize="medium")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(methods), 6),
               fontsize="small", frameon=False)
    return _png(fig, plt)


def overlap_png(doc: dict[str, Any]) -> bytes:
    plt = _pyplot()
    meta = doc["meta"]
    layers = meta.get("layers") or []
    fig, ax = plt.subplots(figsize=(max(6.0, min(14.0, 2 + 0.18 * len(layers))), 3.8), dpi=100, layout="constrained")
    for pair, per_layer in meta["overlap"].items():
        a, b = pair.split("|")
        xs = layers if len(layers) == len(per_layer) else list(range(len(per_layer)))
        ax.plot(xs, per_layer, marker="o", markersize=3, label=f"{a} · {b}")
    ax.set_ylim(-0.02, 1.02)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("MoE layer")
    ax.set_ylabel("|A ∩ B| / K")
    ax.set_title(f"kept-set overlap between methods (K = {meta.get('kept_per_layer')})", fontsize="medium")
    fig.legend(loc="outside lower center", ncol=3, fontsize="small", frameon=False)
    return _png(fig, plt)
