"""``report.md`` from the report summary (``report.json``'s data): tables, the plots, how to read them.

Numbers are formatted one way everywhere: rows as integers, hours with 3 decimals, seconds with 2, shares
as whole percent.
"""

from __future__ import annotations

from typing import Any

from reap_omni.report.summary import EVAL_SPLITS, PLOTS, UNKNOWN


def hours_text(hours: float) -> str:
    return f"{hours:.3f}"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.2f}"


def clock_text(seconds: float) -> str:
    """``h:mm:ss`` (rounded to the second)."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out + [""]


def _counts_text(counts: dict[str, int], limit: int = 8) -> str:
    """``a: 3, b: 1`` (the first ``limit`` values, then ``… (+N more)``)."""
    items = list(counts.items())
    text = ", ".join(f"{k}: {v}" for k, v in items[:limit])
    return text + (f", … (+{len(items) - limit} more)" if len(items) > limit else "") if items else "-"


def render_markdown(summary: dict[str, Any]) -> str:
    totals, strata, datasets = summary["totals"], summary["strata"], summary["datasets"]
    plots = summary.get("plots") or {}
    lines = [
        "# Calibration set report",
        "",
        f"`{summary['target']}`: **{totals['rows']} rows**, **{hours_text(totals['hours'])} h** "
        f"({clock_text(totals['seconds'])}), {totals['datasets']} dataset(s), "
        f"{summary['eval_split']['rows']} row(s) from evaluation splits.",
        "",
        f"Every number below is recomputed from the manifests (reap-omni {summary['reap_omni']}); "
        "`report.json` holds the same figures.",
        "",
    ]
    lines += _table(["manifest", "rows"], [[f"`{m['path']}`", m["rows"]] for m in summary["manifests"]])
    if summary.get("plots_missing"):
        lines += [f"> No plots: {summary['plots_missing']}", ""]

    # rows and hours
    lines += ["## Rows and hours per stratum and dataset", ""]
    if "rows_hours" in plots:
        lines += [f"![{PLOTS['rows_hours']}]({plots['rows_hours']})", ""]
    rows = []
    for s in strata.values():
        for name, d in s["datasets"].items():
            share = 100.0 * d["rows"] / s["rows"] if s["rows"] else 0.0
            rows.append([s["label"], name, d["rows"], hours_text(d["hours"]), f"{share:.0f}%"])
        rows.append([f"**{s['label']}**", "**all**", f"**{s['rows']}**", f"**{hours_text(s['hours'])}**", "100%"])
    lines += _table(["stratum", "dataset", "rows", "hours", "share of stratum rows"], rows)
    lines += ["Hours add up the rows' `duration` (probed from the media file where a row has none).", ""]

    # durations
    lines += ["## Durations", ""]
    if "durations" in plots:
        lines += [f"![{PLOTS['durations']}]({plots['durations']})", ""]
    rows = []
    for s in strata.values():
        d = s["durations"]
        if d["known"]:
            rows.append([s["label"], d["known"], seconds_text(d["min"]), seconds_text(d["median"]),
                         seconds_text(d["mean"]), seconds_text(d["max"]), d["probed"], d["unknown"]])  # fmt: skip
        else:
            rows.append([s["label"], 0, "-", "-", "-", "-", d["probed"], d["unknown"]])
    lines += _table(["stratum", "rows with a duration", "min s", "median s", "mean s", "max s", "probed", "unknown"],
                    rows)  # fmt: skip

    # speakers / groups and languages
    lines += ["## Speakers and groups", "",
              "Distinct values of the rows' `source.group` (the speaker, recording, channel or shard a row "
              "comes from, as the catalog maps it).", ""]  # fmt: skip
    rows = []
    for name, d in datasets.items():
        per = f"{d['rows_with_group'] / d['groups']:.1f}" if d["groups"] else "-"
        rows.append([name, d["rows"], d["rows_with_group"], d["groups"], per])
    lines += _table(["dataset", "rows", "rows with a group", "distinct groups", "rows per group"], rows)

    lines += ["## Languages", "", "From the rows' `lang`; rows without one count as `unknown`.", ""]
    rows = [[lang, n, f"{100.0 * n / totals['rows']:.0f}%" if totals["rows"] else "-"]
            for lang, n in summary["languages"].items()]  # fmt: skip
    lines += _table(["language", "rows", "share"], rows)
    lines += _table(["dataset", "languages (rows)"], [[k, _counts_text(d["languages"])] for k, d in datasets.items()])

    # licences
    lines += ["## Licences and access", "",
              "From the catalog entry when the dataset is a catalog name (`reap-omni list --all`); "
              "`unknown` otherwise: check the licence of a dataset you added yourself.", ""]  # fmt: skip
    rows = [[name, f"`{d['catalog']}`" if d["catalog"] else "-", d["licence"], d["access"]]
            for name, d in datasets.items()]  # fmt: skip
    lines += _table(["dataset", "catalog entry", "licence", "access"], rows)

    # evaluation splits
    ev = summary["eval_split"]
    lines += ["## Rows from evaluation splits", "",
              f"**{ev['rows']} of {totals['rows']} rows** come from evaluation splits: evaluating a pruned model "
              "on those splits would reuse rows it was calibrated on. Rule per row: `flag` = the row's "
              f"`source.eval_split`; `split` = no flag, `source.split` matches `{EVAL_SPLITS}` "
              "(`test.clean` counts; `dev`/`validation` do not); "
              "`none` = neither, so it cannot be told "
              f"({ev['undetermined_rows']} row(s)).", ""]  # fmt: skip
    rows = [[name, d["rows"], d["eval_split"]["rows"], d["eval_split"]["rule"], _counts_text(d["splits"])]
            for name, d in datasets.items()]  # fmt: skip
    lines += _table(["dataset", "rows", "evaluation-split rows", "rule", "splits"], rows)

    # media formats
    lines += ["## Media formats", "",
              "From the rows (`meta.sample_rate`, `meta.channels`, `width`x`height`, `fps`), else probed from the "
              "media file; `origin` says how many rows gave each fact.", ""]  # fmt: skip
    rows = []
    names = {"sample_rate": "sample rate (Hz)", "channels": "channels", "resolution": "resolution", "fps": "fps"}
    for s in strata.values():
        media = s["media"]
        for fact, label in names.items():
            if fact in media["facts"]:
                rows.append([s["label"], label, _counts_text(media["facts"][fact]),
                             _counts_text(media["origin"].get(fact, {}))])  # fmt: skip
        if media["formats"]:
            rows.append([s["label"], "file format", _counts_text(media["formats"]), "file name"])
    lines += _table(["stratum", "fact", "values (rows)", "origin (rows)"], rows)
    problems = [(s["label"], s["media"]) for s in strata.values() if s["media"]["problems"]]
    if problems:
        lines += ["Media that could not be probed (its facts count as `unknown`):", ""]
        for label, media in problems:
            lines.append(f"- {label}: {_counts_text(media['problems'])}; e.g. " +
                         "; ".join(f"`{e}`" for e in media["problem_examples"][:3]))  # fmt: skip
        lines.append("")
    probe = summary["probe"]
    if not probe["enabled"]:
        lines += ["Probing was off (`--no-probe`): facts a row lacks count as `unknown`.", ""]
    else:
        lines += [f"Probed {probe['probed_files']} media file(s) in this run, {probe['cached_files']} "
                  "from the probe cache of an earlier run.", ""]  # fmt: skip
    if UNKNOWN in datasets:
        lines += ["Rows without `source.dataset` are counted under the dataset `unknown`.", ""]
    return "\n".join(lines).rstrip() + "\n"
