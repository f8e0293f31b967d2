"""``calibration/manifest.lock.json``: enough provenance to rebuild the same calibration set.

For every manifest row the lock records the dataset, the source (kind, repo, *resolved commit*, file,
row or archive member), the sampling unit and candidate key, the licence, and the sha256 of each written
media file; plus the options that shaped the media. ``download --from-lock`` reads it back and fetches
exactly those rows again from exactly those revisions. The lock is derived from the manifests, so it can
always be regenerated after an interrupted run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from reap_omni import __version__
from reap_omni.errors import InputError
from reap_omni.fileio import atomic_write_bytes
from reap_omni.manifest.jsonl import JSON_ERRORS, json_error_message

LOCK_NAME = "manifest.lock.json"
LOCK_VERSION = 1
#: What a demo's stats and lock say about themselves: their repos and revisions exist only on the demo server.
DEMO_NOTE = ("quickstart --demo: synthetic media from fixture repos served on 127.0.0.1; the repos and "
             "revisions named here are not the real Hub's")
#: Keys of a row's ``source`` dict that describe where its bytes came from (see ``Provenance``).
PROVENANCE_KEYS = ("kind", "repo", "revision", "file", "row", "member", "url", "config", "split")


class LockMedia(msgspec.Struct, kw_only=True, omit_defaults=True):
    path: str
    sha256: str | None = None


class LockRow(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One calibration row and the exact origin of its media."""

    id: str
    dataset: str
    modality: str
    key: str  # candidate key, prefixed by the source id (unique within the dataset)
    unit: str | None = None  # sampling unit key, prefixed the same way
    source_id: str | None = None
    source: dict[str, Any] = msgspec.field(default_factory=dict)
    licence: str | None = None
    media: dict[str, LockMedia] = msgspec.field(default_factory=dict)


class LockFile(msgspec.Struct, kw_only=True, omit_defaults=True):
    version: int = LOCK_VERSION
    tool: str = ""
    demo: bool = False  # from quickstart --demo: nothing in it can be fetched from the real Hub
    note: str | None = None
    options: dict[str, Any] = msgspec.field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    rows: list[LockRow] = msgspec.field(default_factory=list)

    def dataset_rows(self) -> dict[str, list[LockRow]]:
        out: dict[str, list[LockRow]] = {}
        for row in self.rows:
            out.setdefault(row.dataset, []).append(row)
        return out


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def lock_row(row: dict[str, Any], licence: str | None) -> LockRow | None:
    """The lock entry of one manifest row written by a build; ``None`` for rows from elsewhere (no key)."""
    src = row.get("source") or {}
    if not isinstance(src, dict) or not src.get("key") or not src.get("dataset"):
        return None
    meta = row.get("meta") or {}
    hashes = meta.get("sha256") if isinstance(meta, dict) else None
    media = {}
    for name in ("audio", "video"):
        path = row.get(name)
        if isinstance(path, str) and path:
            sha = hashes.get(name) if isinstance(hashes, dict) else None
            media[name] = LockMedia(path=path, sha256=sha)
    return LockRow(
        id=row["id"],
        dataset=src["dataset"],
        modality=row.get("modality", ""),
        key=src["key"],
        unit=src.get("unit"),
        source_id=src.get("source_id"),
        source={k: src[k] for k in PROVENANCE_KEYS if src.get(k) is not None},
        licence=licence,
        media=media,
    )


def build_lock(
    rows: Iterable[dict[str, Any]],
    *,
    options: dict[str, Any],
    datasets: dict[str, dict[str, Any]],
    licence_of: Callable[[str], str | None] = lambda _name: None,
    demo: bool = False,
) -> LockFile:
    """A lock over ``rows`` (all manifest rows, any order); rows are sorted by id for stable diffs.

    Each row id and each ``(dataset, key)`` is listed once (the first seen), whatever the manifests hold.
    """
    entries: list[LockRow] = []
    seen: set[Any] = set()
    for r in rows:
        e = lock_row(r, licence_of(_dataset(r)))
        if e is None or e.id in seen or (e.dataset, e.key) in seen:
            continue
        seen.update((e.id, (e.dataset, e.key)))
        entries.append(e)
    entries.sort(key=lambda e: (e.dataset, e.id))
    return LockFile(tool=f"reap-omni {__version__}", demo=demo, note=DEMO_NOTE if demo else None, options=options,
                    datasets=datasets, rows=entries)  # fmt: skip


def _dataset(row: dict[str, Any]) -> str:
    src = row.get("source")
    return src.get("dataset", "") if isinstance(src, dict) else ""


def write_lock(path: str | os.PathLike[str], lock: LockFile) -> None:
    """Write the lock atomically, indented so it reads well in a diff."""
    atomic_write_bytes(path, msgspec.json.format(msgspec.json.encode(lock), indent=1) + b"\n")


def read_lock(path: str | os.PathLike[str]) -> LockFile:
    """Read and check a lock file; a missing, malformed or newer-version lock is a one-line error."""
    if os.path.exists(path) and not os.path.isfile(path):  # a folder, a fifo or a device: never read to the end
        raise InputError("not a lock file (a folder or a special file); give manifest.lock.json", path)
    try:
        data = open(path, "rb").read()  # noqa: SIM115 - small file
    except FileNotFoundError:
        raise InputError("lock file not found", path) from None
    except OSError as exc:
        raise InputError(f"cannot read lock file: {exc.strerror}", path) from None
    try:
        lock = msgspec.json.decode(data, type=LockFile)
    except msgspec.ValidationError as exc:
        raise InputError(f"not a reap-omni lock file: {exc}", path) from None
    except JSON_ERRORS as exc:
        raise InputError(f"lock file: {json_error_message(exc, data)}", path) from None
    if lock.version > LOCK_VERSION:
        raise InputError(f"lock version {lock.version} is newer than this reap-omni understands ({LOCK_VERSION})", path)
    return lock
