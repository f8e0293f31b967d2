"""``reap-omni report``: what a calibration set holds, recomputed from its manifests.

The input is a calibration output folder (``DIR/calibration/{audio,video,mixed}.jsonl``), the calibration
folder itself, or one manifest file, built by ``download``/``quickstart`` or assembled by hand with
``convert_utils.py``. Every number comes from streaming the manifests (``summary``; nothing is taken
from ``stats.json``): rows and hours per stratum and dataset, duration distributions, distinct
speakers/groups, languages, licence and access, evaluation-split rows and media formats.

``write_report`` writes ``report.json`` (the figures), the PNGs (``plots``, when matplotlib is
installed: it comes with the ``[prune]`` extra) and ``report.md`` (``markdown``), each atomically.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reap_omni.errors import ReapOmniError
from reap_omni.report.media import ProbeCache
from reap_omni.report.summary import MANIFEST_NAMES, PLOTS, build_report


@dataclass(frozen=True)
class ReportInputs:
    """The manifests a report reads and where it goes by default."""

    target: Path
    manifests: tuple[Path, ...]
    default_output: Path


def find_inputs(target: str | os.PathLike[str]) -> ReportInputs:
    """Manifests of ``target``: a calibration output folder, its ``calibration/`` folder, or one JSONL file."""
    p = Path(target).expanduser()
    if not p.exists():
        raise ReapOmniError(f"{target}: not found (give a calibration output folder, its calibration/ folder "
                            "or a manifest .jsonl)")  # fmt: skip
    if p.is_file():
        return ReportInputs(p, (p,), p.with_name(f"{p.stem}_report.md"))
    for folder in (p / "calibration", p):
        found = tuple(folder / n for n in MANIFEST_NAMES if (folder / n).is_file())
        if found:
            return ReportInputs(p, found, p / "report.md")
    raise ReapOmniError(f"{target}: no manifests found: expected {p / 'calibration'}/{{audio,video,mixed}}.jsonl "
                        "(or give a manifest .jsonl)")  # fmt: skip


@dataclass(frozen=True)
class ReportPaths:
    """``report.md``; ``report.json`` beside it, PNGs named ``<stem>_<plot>.png``, the probe cache."""

    markdown: Path

    @property
    def json(self) -> Path:
        return self.markdown.with_suffix(".json")

    @property
    def probe_cache(self) -> Path:
        return self.markdown.with_name(f".{self.markdown.stem}_probe_cache.json")

    def png(self, plot: str) -> Path:
        return self.markdown.with_name(f"{self.markdown.stem}_{plot}.png")


def report_paths(inputs: ReportInputs, output: str | os.PathLike[str] | None = None) -> ReportPaths:
    """Where the report goes: ``output`` (a file, or a folder to hold ``report.md``), else the default."""
    if output is None:
        return ReportPaths(inputs.default_output)
    out = Path(output).expanduser()
    if out.is_dir():
        out = out / "report.md"
    return ReportPaths(out)


def plots_unavailable() -> str | None:
    """One line saying how to get the plots when matplotlib is missing; None when it is importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        from reap_omni.install_hint import install_command

        return f"the plots need matplotlib (in the [prune] extra): {install_command('prune')}"
    return None


@dataclass
class WrittenReport:
    markdown: Path
    json: Path
    plots: list[Path]
    #: why no plots were written (matplotlib missing, --no-plots), one line; None when they were
    plots_missing: str | None
    summary: dict[str, Any]


def write_report(
    target: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    probe: bool = True,
    jobs: int = 4,
    plots: bool = True,
    progress: Callable[[str, int], None] | None = None,
) -> WrittenReport:
    """Build the report of ``target`` and write ``report.json``, the PNGs and ``report.md``, each atomically."""
    import msgspec

    from reap_omni.fileio import atomic_write_bytes, check_not_input, ensure_output_dir
    from reap_omni.manifest.jsonl import encode_json
    from reap_omni.report.markdown import render_markdown

    inputs = find_inputs(target)
    paths = report_paths(inputs, output)
    for out in (paths.markdown, paths.json, paths.probe_cache, *(paths.png(p) for p in PLOTS)):
        check_not_input(out, inputs.manifests)
    ensure_output_dir(paths.markdown)
    probes = ProbeCache(paths.probe_cache, enabled=probe)
    summary = build_report(inputs.manifests, inputs.target, probes, jobs=jobs, progress=progress)
    probes.save()
    written: list[Path] = []
    missing = plots_unavailable() if plots else "not requested (--no-plots)"
    if missing is None:
        from reap_omni.report.plots import render_plots

        for name, data in render_plots(summary).items():
            atomic_write_bytes(paths.png(name), data)
            written.append(paths.png(name))
    summary["plots"] = {name: paths.png(name).name for name in PLOTS if paths.png(name) in written}
    summary["plots_missing"] = missing
    atomic_write_bytes(paths.json, msgspec.json.format(encode_json(summary), indent=2) + b"\n")
    atomic_write_bytes(paths.markdown, render_markdown(summary).encode("utf-8"))
    return WrittenReport(paths.markdown, paths.json, written, missing, summary)
