"""Archive safety shared by every archive reader: tar streams, zip range reads, the one-time MDC extraction.

One check per concern, so the readers refuse the same things the same way: a member path that is absolute
(``/x``, ``\\x``, ``C:\\x``) or climbs (``..``) refuses the archive; a member bigger than
``options.max_member_bytes`` (default 1 GiB, members are held in memory) is refused before it is inflated.
"""

from __future__ import annotations

from reap_omni.catalog.spec import SourceSpec
from reap_omni.sources.base import SourceUnavailable

MAX_MEMBER_BYTES = 1 << 30  # 1 GiB uncompressed: members are held in memory


class UnsafeArchive(SourceUnavailable):
    def __init__(self, message: str):
        super().__init__(message, reason="unsafe_archive")


def max_member_bytes(spec: SourceSpec) -> int:
    """The per-member uncompressed limit of a source: ``options.max_member_bytes`` or 1 GiB."""
    return int(spec.options.get("max_member_bytes", MAX_MEMBER_BYTES))


def unsafe_path(name: str) -> bool:
    """True for a member path that is absolute (POSIX, Windows drive or UNC) or has a ``..`` component."""
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in parts


def check_member_name(name: str, archive: str) -> None:
    """Refuse the archive when a member's path could escape a folder."""
    if unsafe_path(name):
        raise UnsafeArchive(f"{archive}: unsafe archive member {name!r} has an absolute or parent ('..') path; "
                            "archive refused")


def member_too_big(archive: str, name: str, size: int, limit: int) -> UnsafeArchive:
    return UnsafeArchive(f"{archive}: member {name!r} is {size} bytes, over the {limit}-byte limit; raise "
                         "`options.max_member_bytes` if this is expected")
