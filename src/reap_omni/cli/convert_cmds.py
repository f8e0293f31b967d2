"""Conversion commands (csv, json, folder, merge, split, validate, msswift, ...)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    """Registered by the conversion modules as they land (see reap_omni.convert)."""
