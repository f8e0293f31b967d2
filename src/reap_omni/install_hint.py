"""The pip command that adds an extra to *this* installation (no package index serves reap-omni).

``pip install 'reap-omni[prune]'`` only works for a release on an index; a user who installed the checkout
(``pip install -e .``) or runs the root scripts from it needs the path form. PEP 610's ``direct_url.json``
says how the distribution was installed.
"""

from __future__ import annotations

import json
import shlex
from importlib import metadata
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: the checkout this module was imported from (``<root>/src/reap_omni/install_hint.py``), when it is one
_CHECKOUT = Path(__file__).resolve().parents[2]


def install_command(extra: str) -> str:
    """E.g. ``pip install -e '/home/me/reap-omni[prune]'`` or ``pip install 'reap-omni[prune]'``."""
    try:
        dist = metadata.distribution("reap-omni")
    except metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        raw = dist.read_text("direct_url.json")
        if raw:
            try:
                info = json.loads(raw)
            except ValueError:
                info = {}
            url = info.get("url", "")
            if url.startswith("file://"):
                where = unquote(urlsplit(url).path)
                editable = bool((info.get("dir_info") or {}).get("editable"))
                return f"pip install {'-e ' if editable else ''}{shlex.quote(f'{where}[{extra}]')}"
        return f"pip install {shlex.quote(f'reap-omni[{extra}]')}"
    if (_CHECKOUT / "pyproject.toml").is_file():  # run from a checkout that was never installed
        return f"pip install -e {shlex.quote(f'{_CHECKOUT}[{extra}]')}"
    return f"pip install {shlex.quote(f'reap-omni[{extra}]')}"
