"""Highest-random-weight (rendezvous) placement: which node, and which mountpath, owns a name.

Pure functions over plain data. A node's weight for a name is xxhash64(name) mixed with the
node's own digest, so adding or removing one node moves only the names it wins or held.
"""

from __future__ import annotations

from collections.abc import Sequence

import xxhash

_MASK64 = (1 << 64) - 1


def digest(s: str) -> int:
    """The 64-bit digest of a node id, mountpath or name."""
    return xxhash.xxh64_intdigest(s.encode())


def _mix(a: int, b: int) -> int:
    # xorshift-multiply finalizer (splitmix64): spreads a ^ b over all 64 bits.
    z = (a ^ b) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def pick(name: str, candidates: Sequence[tuple[str, int]]) -> str:
    """The candidate id with the highest weight for ``name``; candidates are (id, digest)."""
    if not candidates:
        raise ValueError("no candidates to place on")
    h = digest(name)
    best_id, best_w = "", -1
    for cid, cdigest in candidates:
        w = _mix(h, cdigest)
        if w > best_w or (w == best_w and cid > best_id):
            best_id, best_w = cid, w
    return best_id


def pick_str(name: str, ids: Sequence[str]) -> str:
    """``pick`` for plain ids (mountpaths): the digest is computed from the id."""
    return pick(name, [(i, digest(i)) for i in ids])
