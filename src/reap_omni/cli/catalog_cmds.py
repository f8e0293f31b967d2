"""Catalog commands: ``list`` (what can be fetched, and how) and ``catalog-docs`` (regenerate/check docs)."""

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
    as_json,
    availability,
    by_stratum,
    check_coherent,
    route,
    select,
)
from reap_omni.catalog.spec import DatasetSpec
from reap_omni.errors import ReapOmniError, ValidationFailed
from reap_omni.fileio import atomic_write_bytes

_STRATUM_NAMES = {"S1": "S1 audio-only", "S2": "S2 video-only", "S3": "S3 mixed audio+video"}


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
    rows = {st: [(s.name + (" *" if s.recommended else ""), s.title, s.scale, s.task, availability(s), route(s))
                 for s in members] for st, members in by_stratum(specs).items()}  # fmt: skip
    flat = [r for members in rows.values() for r in members]
    if not flat:
        out.write("no datasets match\n")
        return
    widths = [max(len(r[i]) for r in flat) for i in range(5)]
    for stratum, members in rows.items():
        if not members:
            continue
        out.write(f"{_STRATUM_NAMES[stratum]}:\n")
        for r in members:
            out.write("  " + "  ".join(c.ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5] + "\n")
    out.write(f"{len(flat)} datasets (* = quickstart mix; availability: open, gated = account/terms, "
              "gated+mirror = account/terms or an open mirror, opt_in = YouTube or risky mirror, local = your copy). "
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
