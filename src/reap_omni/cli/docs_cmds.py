"""``docs``: regenerate (or, with ``--check``, verify) the flag tables of the command reference in
``docs/{en,zh}/*.md`` from the argparse definitions (see ``reap_omni.cli.reference``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reap_omni.errors import ReapOmniError, ValidationFailed


def cmd_docs(args: argparse.Namespace) -> int:
    from reap_omni.cli import reference
    from reap_omni.cli.catalog_cmds import default_root
    from reap_omni.fileio import atomic_write_bytes

    root = Path(args.root) if args.root else default_root()
    if not (root / reference.DOCS_DIR / "en").is_dir():
        raise ReapOmniError(f"{root}: no {reference.DOCS_DIR}/en folder (give the checkout with --root)")
    ref = reference.build(root)
    stale = ref.stale()
    shown = {p: p.relative_to(root) if p.is_relative_to(root) else p for p in stale}
    if args.check:
        for path in stale:
            print(f"{shown[path]}: flag tables out of date with the parser: run {reference.REGENERATE}",
                  file=sys.stderr)
    else:
        for path in stale:
            atomic_write_bytes(path, ref.expected[path].encode("utf-8"))
            print(f"wrote {shown[path]}")
    for line in ref.problems:
        print(line, file=sys.stderr)
    if ref.problems or (args.check and stale):
        raise ValidationFailed(f"{len(stale) if args.check else 0} stale page(s), {len(ref.problems)} problem(s); "
                               f"fix them and run {reference.REGENERATE}")
    if args.check:
        print(f"command reference is up to date ({len(ref.expected)} pages in {reference.DOCS_DIR}/en, "
              f"{reference.DOCS_DIR}/zh)")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("docs", help="regenerate the flag tables of docs/en and docs/zh from the command definitions",
                       description="Fill every <!-- reference:COMMAND --> block of docs/{en,zh}/*.md with that "
                       "command's flags, defaults and help (Chinese help from docs/zh/flag_help.json); --check "
                       "fails when a page differs, a command has no block, or a help text has no translation.")
    p.add_argument("--check", action="store_true", help="only check; exit 1 when a page is stale or a text is missing")
    p.add_argument("--root", help="repository root holding docs/ (default: this checkout)")
    p.set_defaults(func=cmd_docs)
