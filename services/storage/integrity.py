"""Reading an object back against the checksum stored with it, before any byte is served
(AIS ``checksum.validate_warm_get``): rotten bytes become an error, never a response."""

from __future__ import annotations

import os

from aismesh.cmn import errors
from aismesh.cmn.checksum import new_hasher
from services.storage.objmeta import ObjMeta

CHUNK = 1 << 20


def computed_checksum(fd: int, cks_type: str) -> str:
    """The ``cks_type`` checksum of the whole file behind ``fd`` (read with pread: offset untouched)."""
    hasher = new_hasher(cks_type)
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    pos = 0
    while True:
        n = os.preadv(fd, [view], pos)
        if n <= 0:
            return hasher.hexdigest()
        hasher.update(view[:n])
        pos += n


def verify(fd: int, meta: ObjMeta, what: str) -> None:
    """Raise Internal (reason "bad-checksum") when the file's bytes do not match ``meta``."""
    if not meta.cks_value or meta.cks_type == "none":
        return  # nothing stored to verify against
    got = computed_checksum(fd, meta.cks_type)
    if got != meta.cks_value.lower():
        raise errors.Internal(
            f"{what}: bad checksum: stored {meta.cks_type} {meta.cks_value}, computed {got} from its "
            f"{meta.size} bytes on disk: not served", reason="bad-checksum")
