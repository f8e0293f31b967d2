"""Duplicate-id detection in bounded memory per row.

Merge, validate and the converters must say *where* an id was first seen (``file:line``) when it comes
back. Keeping every id string would cost memory proportional to id length; instead each id is reduced
to a 128-bit BLAKE2 digest (collisions are astronomically unlikely) mapped to a compact location.
"""

from __future__ import annotations

import hashlib
from array import array


def id_key(row_id: str) -> int:
    """A 128-bit integer digest of an id: the dictionary key used instead of the id itself."""
    return int.from_bytes(hashlib.blake2b(row_id.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")


class IdIndex:
    """Remembers ids and where each was first seen: ``(file index, line)``."""

    def __init__(self) -> None:
        self._where: dict[int, int] = {}
        self._files = array("I")
        self._lines = array("Q")

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, row_id: str) -> bool:
        return id_key(row_id) in self._where

    def add(self, row_id: str, file_index: int, line: int) -> tuple[int, int] | None:
        """Record ``row_id`` at ``(file_index, line)``; if it was already seen, return where instead."""
        key = id_key(row_id)
        slot = self._where.get(key)
        if slot is not None:
            return self._files[slot], self._lines[slot]
        self._where[key] = len(self._files)
        self._files.append(file_index)
        self._lines.append(line)
        return None
