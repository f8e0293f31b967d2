"""Catalog commands: ``list`` (what can be fetched, and how), ``catalog-docs`` (regenerate/check docs) and
``probe`` (check each source's facts against the live Hub and hosts, cheaply)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from reap_omni.catalog import docs
from reap_omni.catalog.registry import (
    MODALITY_CHOICES,
    all_datasets,
    apply_source_options,
    as_json,
    availability,
    by_stratum,
    check_coherent,
    route,
    select,
    split_label,
)
from reap_omni.catalog.spec import DatasetSpec
from reap_omni.errors import ReapOmniError, ValidationFailed
from reap_omni.fileio import atomic_write_bytes

_STRATUM_NAMES = {"S1": "S1 audio-only", "S2": "S2 video-only", "S3": "S3 mixed audio+video", "S0": "S0 text"}


def add_list_arguments(parser: argparse.ArgumentParser, extended_default: bool = False) -> None:
    """The options of ``list``; shared with the root shims' ``--list``."""
    parser.add_argument("--modality", choices=MODALITY_CHOICES, default="all", help="only this modality")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--extended", action="store_true", default=extended_default,
                       help="only the extended set (extended_datasets.py)")
    scope.add_argument("--all", dest="all_sets", action="store_true", help="the seed list and the extended set")
    parser.add_argument("--recommended", action="store_true", help="only the quickstart mix")
    parser.add_argument("--json", action="store_true", help="machine-readable output (every field and source)")


def selected(args: argparse.Namespace) -> list[DatasetSpec]:
    """Entries chosen by the ``list`` options."""
    specs = select(None, args.modality, include_extended=args.extended or args.all_sets,
                   recommended_only=args.recommended)
    if args.extended and not args.all_sets:
        specs = [s for s in specs if s.extended]
    return specs


def print_list(specs: Sequence[DatasetSpec], as_json_output: bool = False, out: TextIO | None = None) -> None:
    """Print entries as a table per stratum, or as JSON."""
    out = out or sys.stdout
    if as_json_output:
        out.write(as_json(specs) + "\n")
        return
    rows = {st: [(s.name + (" *" if s.recommended else ""), s.title, s.scale, s.task, availability(s),
                  split_label(s) or "-", route(s)) for s in members] for st, members in by_stratum(specs).items()}
    flat = [r for members in rows.values() for r in members]
    if not flat:
        out.write("no datasets match\n")
        return
    header = ("name", "dataset", "scale", "task", "access", "split used", "sources in order")
    widths = [max(len(r[i]) for r in [*flat, header]) for i in range(6)]
    out.write("  " + "  ".join(c.ljust(w) for c, w in zip(header[:6], widths, strict=True)) + "  " + header[6] + "\n")
    for stratum, members in rows.items():
        if not members:
            continue
        out.write(f"{_STRATUM_NAMES[stratum]}:\n")
        for r in members:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r[:6], widths, strict=True)) + "  " + r[6] + "\n")
    out.write(f"{len(flat)} datasets (* = quickstart mix; access: open, gated = account/terms, "
              "gated+mirror = account/terms or an open mirror, opt_in = YouTube or risky mirror, local = your copy; "
              "split used = the first source's, '(eval split)' = a benchmark evaluates on it, by the catalog's "
              "evidence; quickstart skips such sources unless --allow-eval-splits). "
              "Details: DATASETS_CATALOG.md or --json.\n")


def cmd_list(args: argparse.Namespace) -> int:
    print_list(selected(args), args.json)
    return 0


def default_root() -> Path:
    """The repository root when running from a checkout, else the current directory."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "pyproject.toml").is_file() and (here / "src" / "reap_omni").is_dir() else Path.cwd()


def cmd_catalog_docs(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else default_root()
    if not root.is_dir():
        raise ReapOmniError(f"{root}: not a directory")
    if args.check:
        problems = [f"{spec.name}: {p}" for spec in all_datasets() for p in check_coherent(spec)]
        for line in problems:
            print(f"catalog entry {line}", file=sys.stderr)
        stale = docs.stale_files(root)
        for path in stale:
            print(f"{path}: out of date with the catalog", file=sys.stderr)
        if problems or stale:
            raise ValidationFailed(f"{len(problems)} catalog problem(s), {len(stale)} stale file(s); fix the entries "
                                   "and run reap-omni catalog-docs")
        print(f"catalog docs are up to date ({docs.CATALOG_FILE}, README datasets sections)")
        return 0
    for path, text in docs.expected_files(root).items():
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            atomic_write_bytes(path, text.encode("utf-8"))
            print(f"wrote {path}")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    from reap_omni.sources import probe  # deferred: list and catalog-docs need no HTTP stack

    if args.names and args.all_sets:
        raise ReapOmniError("probe: name datasets or pass --all, not both")
    if args.names:
        specs = select(args.names)
    else:
        specs = select(None, include_extended=args.all_sets, recommended_only=not args.all_sets)
        if not args.all_sets and not args.json:
            print("probing the quickstart mix (name datasets, or --all for every one)", file=sys.stderr)
    specs = apply_source_options(specs, args.source_option)
    if args.demo:
        from reap_omni.calibration_set.demo import demo_hub

        with demo_hub(specs, 4 * len(specs)) as served:
            if not args.json:
                print(f"demo mode: fixture repos for {len(served)} of {len(specs)} dataset(s) on "
                      f"{__import__('os').environ['HF_ENDPOINT']}", file=sys.stderr)
            jobs = probe.served_jobs(specs, served)
            results = probe.report(probe.probe_sources(jobs, token=args.token), sys.stdout, as_json=args.json)
    else:
        results = probe.report(probe.probe_datasets(specs, token=args.token), sys.stdout, as_json=args.json)
    return 1 if probe.failing_datasets(results) else 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the datasets the toolkit knows and how each is obtained",
                       description="List catalog datasets per stratum (S1 audio, S2 video, S3 mixed).")
    add_list_arguments(p)
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("catalog-docs", help="regenerate DATASETS_CATALOG.md and the README datasets sections",
                       description="Render the catalog docs from the entries; --check fails when they differ.")
    p.add_argument("--check", action="store_true", help="only check; exit 1 when a file is stale")
    p.add_argument("--root", help="repository root holding the docs (default: this checkout)")
    p.set_defaults(func=cmd_catalog_docs)
    p = sub.add_parser(
        "probe", help="check each source of datasets against the live Hub and hosts (no row data, <= 1 MB each)",
        description="Check every source of the named datasets (default: the quickstart mix) against the Hub "
        "(HF_ENDPOINT) and HTTP hosts: repo, gating, revision, files, parquet footers, archive sizes, metadata "
        "keys. One row per source with the --source-option that fixes it when the probe can tell. Exit 1 when "
        "a dataset has no working source.")
    p.add_argument("names", nargs="*", metavar="DATASET", help="datasets to probe (names or aliases)")
    p.add_argument("--all", dest="all_sets", action="store_true", help="every dataset, the extended set included")
    p.add_argument("--json", action="store_true",
                   help='a JSON list of {"dataset", "source", "kind", "ok", "problems", "fix", "bytes", ...}')
    p.add_argument("--token", help="Hugging Face token for gated datasets (default: HF_TOKEN or `hf auth login`)")
    p.add_argument("--source-option", action="append", default=[], metavar="DATASET[:I]:KEY=VALUE",
                   help="override a catalog fact before probing (try a fix the probe suggested)")
    p.add_argument("--demo", action="store_true",
                   help="offline: probe generated fixture repos on 127.0.0.1 instead (as quickstart --demo)")
    p.set_defaults(func=cmd_probe)
