"""``report``: what a calibration set holds, as ``report.md`` + ``report.json`` + PNGs (thin command over
``reap_omni.report.write``)."""

from __future__ import annotations

import argparse
import sys

from reap_omni.errors import ReapOmniError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="summarise a calibration set: rows, hours, durations, speakers, languages, licences, plots",
        description="Recompute from the manifests what a calibration set holds and write DIR/report.md, "
        "report.json and PNGs: rows and hours per stratum and dataset, duration histograms, distinct "
        "speakers/groups, languages, licences and access, rows from evaluation splits, media formats. DIR is a "
        "calibration output folder (DIR/calibration/{audio,video,mixed}.jsonl), the calibration folder itself, "
        "or one manifest .jsonl. The plots need matplotlib (the [prune] extra).",
    )  # fmt: skip
    p.add_argument("dir", metavar="DIR", help="calibration output folder, its calibration/ folder, or a manifest")
    p.add_argument("--output", "-o", metavar="FILE.md",
                   help="where to write the report (default DIR/report.md; report.json and the PNGs go beside "
                        "it); a folder gets report.md inside")  # fmt: skip
    p.add_argument("--no-probe", action="store_true",
                   help="never open media files: facts a row lacks (channels, ...) count as unknown")
    p.add_argument("--no-plots", action="store_true", help="write report.md and report.json only")
    p.add_argument("--jobs", "-j", type=int, default=4, help="threads probing media files (default 4)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from reap_omni.report.write import write_report

    if args.jobs < 1:
        raise ReapOmniError(f"--jobs must be at least 1 (got {args.jobs})")
    done = write_report(args.dir, args.output, probe=not args.no_probe, jobs=args.jobs, plots=not args.no_plots)
    if args.quiet:
        return 0
    t = done.summary["totals"]
    print(f"report: {done.markdown}  ({t['rows']} rows, {t['hours']:.3f} h, {t['datasets']} datasets, "
          f"{done.summary['eval_split']['rows']} from evaluation splits)")  # fmt: skip
    print(f"  data: {done.json}")
    for png in done.plots:
        print(f"  plot: {png}")
    if done.plots_missing and not args.no_plots:
        print(f"reap-omni: no plots: {done.plots_missing}", file=sys.stderr)
    return 0
