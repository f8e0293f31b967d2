#!/usr/bin/env python3
"""Seed-compatible script for the extended dataset set: ``python extended_datasets.py --list [--json]``.

Any other arguments download extended datasets through the same engine as ``download_datasets.py``
(``reap-omni download --extended``); without ``--dataset``, every extended dataset of ``--modality`` is taken.
A thin shim over ``reap_omni``.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "src"))

PROG = "extended_datasets.py"


def _list(argv: list[str]) -> int:
    from reap_omni.catalog.registry import MODALITY_CHOICES, select
    from reap_omni.cli.catalog_cmds import print_list

    parser = argparse.ArgumentParser(prog=PROG, description="List the extended datasets.")
    parser.add_argument("--list", action="store_true", help="list the extended datasets")
    parser.add_argument("--modality", choices=MODALITY_CHOICES, default="all")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    print_list([s for s in select(None, args.modality, include_extended=True) if s.extended], args.json)
    return 0


def download_argv(argv: list[str]) -> list[str]:
    """``download`` arguments for a shim call: without ``--dataset``, every extended dataset of ``--modality``."""
    from reap_omni.catalog.registry import MODALITY_CHOICES, select

    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--dataset", "-d", nargs="+")
    probe.add_argument("--modality", "-m", choices=MODALITY_CHOICES, default="all")
    probe.add_argument("--from-lock")
    known, _ = probe.parse_known_args(argv)
    if known.dataset or known.from_lock or "-h" in argv or "--help" in argv:
        return ["download", "--extended", *argv]
    names = [s.name for s in select(None, known.modality, include_extended=True) if s.extended]
    return ["download", "--extended", "--dataset", *names, *argv]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or "--list" in argv:
        return _list(argv)
    from reap_omni.cli import build_parser, run

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    download = sub.choices.get("download")
    if download is None or not any("--extended" in a.option_strings for a in download._actions):
        print(f"{PROG}: error: this install has no download command with --extended yet; "
              f"only --list is available", file=sys.stderr)
        return 2
    return run(download_argv(argv), prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
