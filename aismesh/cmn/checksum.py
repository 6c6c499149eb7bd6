"""Object checksums: one streaming hasher interface over every type AIS names."""

from __future__ import annotations

import hashlib
from typing import Protocol

import google_crc32c
import xxhash

from aismesh.cmn.errors import InvalidArgument

DEFAULT_TYPE = "xxhash"
TYPES = ("none", "xxhash", "xxhash2", "md5", "crc32c", "sha256", "sha512")


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> None: ...
    def hexdigest(self) -> str: ...


class _NoHash:
    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        pass

    def hexdigest(self) -> str:
        return ""


class _Crc32c:
    def __init__(self) -> None:
        self._c = google_crc32c.Checksum()

    def update(self, data: bytes | bytearray | memoryview, /) -> None:
        self._c.update(data)

    def hexdigest(self) -> str:
        return self._c.digest().hex()


def new_hasher(cksum_type: str) -> Hasher:
    """A fresh streaming hasher for ``cksum_type`` ("" means the default, xxhash)."""
    t = cksum_type or DEFAULT_TYPE
    if t == "none":
        return _NoHash()
    if t == "xxhash":
        return xxhash.xxh64()
    if t == "xxhash2":
        return xxhash.xxh3_64()
    if t == "crc32c":
        return _Crc32c()
    if t in ("md5", "sha256", "sha512"):
        return hashlib.new(t)
    raise InvalidArgument(f'invalid checksum type "{cksum_type}": expected one of {", ".join(TYPES)}')


def compute(cksum_type: str, data: bytes) -> str:
    """The hex checksum of ``data`` in one call."""
    h = new_hasher(cksum_type)
    h.update(data)
    return h.hexdigest()
