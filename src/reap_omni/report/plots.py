"""The PNGs of ``reap-omni report``, drawn from the report summary alone (matplotlib, Agg backend).

* ``rows_hours``: rows (left) and hours (right) per stratum, each bar stacked by dataset, totals on top.
* ``durations``: one duration histogram per stratum, stacked by dataset, on the summary's bin edges.

A dataset keeps its colour in both figures; the legend sits outside the axes, right of them, so it never
hides a bar. matplotlib comes with the ``[prune]`` extra; the caller checks it is importable.
"""

from __future__ import annotations

import io
from typing import Any


def _colours(names: list[str]) -> dict[str, Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {n: cmap(i % cmap.N) for i, n in enumerate(names)}


def _dataset_order(summary: dict[str, Any]) -> list[str]:
    """Datasets in stratum order, then most rows first (the order of the tables; bars stack in it)."""
    return list(dict.fromkeys(n for s in summary["strata"].values() for n in s["datasets"]))


def _legend_order(summary: dict[str, Any], handles: dict[str, Any]) -> list[str]:
    """Stratum by stratum, each top-down as its bar reads (the last dataset stacked sits on top)."""
    out: list[str] = []
    for s in summary["strata"].values():
        out += [n for n in reversed(list(s["datasets"])) if n in handles and n not in out]
    return out


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _legend(fig, handles, labels) -> None:
    """Outside the axes, right of them; two columns once a single one would be taller than the figure."""
    fig.legend(handles, labels, loc="outside right upper", title="dataset", fontsize="small", frameon=False,
               ncols=1 if len(labels) <= 18 else 2)  # fmt: skip


def rows_hours_png(summary: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strata = summary["strata"]
    keys = list(strata)
    labels = [strata[k]["label"] for k in keys]
    names = _dataset_order(summary)
    colours = _colours(names)
    most_hours = max((s["hours"] for s in strata.values()), default=0.0)
    in_minutes = most_hours < 1.0
    unit, scale = ("minutes", 60.0) if in_minutes else ("hours", 1.0)
    fig, axes = plt.subplots(1, 2, figsize=(9.5 + 0.12 * max(0, len(names) - 8), 4.2), layout="constrained")
    handles = {}
    for ax, what, title in ((axes[0], "rows", "rows"), (axes[1], "hours", unit)):
        bottom = [0.0] * len(keys)
        for name in names:
            values = []
            for k in keys:
                d = strata[k]["datasets"].get(name)
                values.append(0.0 if d is None else (d["rows"] if what == "rows" else d["hours"] * scale))
            if not any(values):
                continue
            bars = ax.bar(labels, values, bottom=bottom, color=colours[name], edgecolor="white", linewidth=0.6,
                          width=0.6)  # fmt: skip
            handles.setdefault(name, bars)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        for i, total in enumerate(bottom):
            text = f"{int(total)}" if what == "rows" else f"{total:.1f}" if total >= 10 else f"{total:.2f}"
            ax.annotate(text, (i, total), xytext=(0, 3), textcoords="offset points", ha="center", va="bottom",
                        fontsize="small")  # fmt: skip
        ax.set_title(f"{title} per stratum")
        ax.set_ylabel(title)
        ax.set_ylim(0, max(bottom, default=0.0) * 1.12 or 1.0)  # room for the totals below the title
        ax.spines[["top", "right"]].set_visible(False)
    t = summary["totals"]
    fig.suptitle(f"Calibration set: {t['rows']} rows, {t['hours']:.3f} h, {t['datasets']} datasets")
    order = _legend_order(summary, handles)
    _legend(fig, [handles[n] for n in order], order)
    return _png(fig)


def durations_png(summary: dict[str, Any]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strata = {k: s for k, s in summary["strata"].items() if s["durations"].get("histogram")}
    names = _dataset_order(summary)
    colours = _colours(names)
    n = max(1, len(strata))
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n + 2.2, 3.8), layout="constrained", squeeze=False)
    handles = {}
    for ax, s in zip(axes[0], strata.values(), strict=False):
        d = s["durations"]
        edges = d["histogram"]["edges"]
        lefts = edges[:-1]
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        bottom = [0] * len(lefts)
        for name in names:
            counts = d["histogram"]["by_dataset"].get(name)
            if not counts or not any(counts):
                continue
            bars = ax.bar(lefts, counts, width=widths, bottom=bottom, align="edge", color=colours[name],
                          edgecolor="white", linewidth=0.4)  # fmt: skip
            handles.setdefault(name, bars)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
        unknown = f", {d['unknown']} without" if d["unknown"] else ""
        rows = f"{d['known']} row" + ("" if d["known"] == 1 else "s")
        ax.set_title(f"{s['label']}\n{rows}{unknown}, median {d['median']:.1f} s", fontsize="medium")
        ax.set_xlabel("duration (s)")
        ax.set_ylabel("rows")
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.spines[["top", "right"]].set_visible(False)
    if not strata:
        axes[0][0].text(0.5, 0.5, "no row has a known duration", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.suptitle("Durations per stratum")
    if handles:
        order = _legend_order(summary, handles)
        _legend(fig, [handles[n] for n in order], order)
    return _png(fig)


def render_plots(summary: dict[str, Any]) -> dict[str, bytes]:
    """``{plot name: PNG bytes}`` for every plot in ``summary.PLOTS``."""
    return {"rows_hours": rows_hours_png(summary), "durations": durations_png(summary)}
