"""Duplicate-id detection in a few dozen bytes per row.

Merge, validate and the converters must say *where* an id was first seen (``file:line``) when it comes
back, over inputs of many millions of rows. A ``dict`` of id strings costs 150+ bytes per row; instead
each id is reduced to a 128-bit key (collisions are astronomically unlikely) kept in an open-addressing
hash table made of flat ``array`` buffers: 40-80 bytes per row with the locations, depending on the load.
"""

from __future__ import annotations

from array import array

_U64 = (1 << 64) - 1


def id_key(row_id: str) -> tuple[int, int]:
    """A 128-bit key for an id as two 64-bit halves; the high half is never 0 (0 marks a free slot).

    The halves are Python's keyed SipHash of the id and of the id plus a separator: two pseudo-independent
    64-bit values, computed in C, valid for the life of the process (which is all an index needs).
    """
    return (hash(row_id + "\x00") & _U64) | 1, hash(row_id) & _U64


class IdIndex:
    """Remembers ids and where each was first seen: ``(file index, line)``."""

    def __init__(self, capacity: int = 1024) -> None:
        self._files = array("H")
        self._lines = array("Q")
        self._alloc(max(16, 1 << (capacity - 1).bit_length()))

    def _alloc(self, slots: int) -> None:
        self._mask = slots - 1
        self._hi = array("Q", bytes(8 * slots))
        self._lo = array("Q", bytes(8 * slots))
        self._loc = array("I", bytes(4 * slots))

    def __len__(self) -> int:
        return len(self._files)

    def _find(self, hi: int, lo: int) -> int:
        """The slot holding ``(hi, lo)``, or the free slot where it would go (linear probing)."""
        his, los, mask = self._hi, self._lo, self._mask
        i = lo & mask
        while True:
            h = his[i]
            if h == 0 or (h == hi and los[i] == lo):
                return i
            i = (i + 1) & mask

    def __contains__(self, row_id: str) -> bool:
        hi, lo = id_key(row_id)
        return self._hi[self._find(hi, lo)] != 0

    def add(self, row_id: str, file_index: int, line: int) -> tuple[int, int] | None:
        """Record ``row_id`` at ``(file_index, line)``; if it was already seen, return where instead."""
        hi, lo = id_key(row_id)
        i = self._find(hi, lo)
        if self._hi[i] != 0:
            loc = self._loc[i]
            return self._files[loc], self._lines[loc]
        self._hi[i] = hi
        self._lo[i] = lo
        self._loc[i] = len(self._files)
        self._files.append(file_index)
        self._lines.append(line)
        if 2 * len(self._files) > self._mask:
            self._grow()
        return None

    def _grow(self) -> None:
        """Double the table (load factor stays at most 1/2) and re-insert every digest."""
        old = zip(self._hi, self._lo, self._loc, strict=True)
        self._alloc(2 * (self._mask + 1))
        for hi, lo, loc in old:
            if hi:
                i = self._find(hi, lo)
                self._hi[i] = hi
                self._lo[i] = lo
                self._loc[i] = loc

    def nbytes(self) -> int:
        """Memory held by the table and the locations (for benchmarks and docs)."""
        arrays = (self._hi, self._lo, self._loc, self._files, self._lines)
        return sum(a.buffer_info()[1] * a.itemsize for a in arrays)
