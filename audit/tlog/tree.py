"""A running RFC 6962 tree root over leaves added in order, in O(log n) memory."""

from __future__ import annotations

from audit.tlog.merkle import EMPTY_ROOT, hash_children


class RootAccumulator:
    """Feed leaf hashes in order; ask for the root of everything seen so far at any time."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # perfect subtrees: (leaf count, hash)

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash, merging equal-sized subtrees as merkle._range_root does."""
        count, node = 1, leaf
        while self._stack and self._stack[-1][0] == count:
            node = hash_children(self._stack.pop()[1], node)
            count *= 2
        self._stack.append((count, node))
        self.size += 1

    def root(self) -> bytes:
        """The Merkle tree hash of the leaves added so far."""
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _count, left in reversed(self._stack[:-1]):
            node = hash_children(left, node)
        return node
