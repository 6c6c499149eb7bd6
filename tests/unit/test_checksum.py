"""Checksums: known vectors, streaming equals one-shot."""

import hashlib

import pytest
import xxhash

from aismesh.cmn.checksum import compute, new_hasher
from aismesh.cmn.errors import InvalidArgument


@pytest.mark.parametrize(("kind", "expected"), [
    ("md5", "900150983cd24fb0d6963f7d28e17f72"),
    ("sha256", hashlib.sha256(b"abc").hexdigest()),
    ("sha512", hashlib.sha512(b"abc").hexdigest()),
    ("xxhash", xxhash.xxh64(b"abc").hexdigest()),
    ("", xxhash.xxh64(b"abc").hexdigest()),
    ("xxhash2", xxhash.xxh3_64(b"abc").hexdigest()),
    ("none", ""),
])
def test_vectors(kind: str, expected: str) -> None:
    assert compute(kind, b"abc") == expected


def test_crc32c_check_value() -> None:
    assert compute("crc32c", b"123456789") == "e3069283"


@pytest.mark.parametrize("kind", ["md5", "xxhash", "xxhash2", "crc32c", "sha256"])
def test_streaming_equals_one_shot(kind: str) -> None:
    data = bytes(range(256)) * 100
    h = new_hasher(kind)
    for i in range(0, len(data), 777):
        h.update(data[i:i + 777])
    assert h.hexdigest() == compute(kind, data)


def test_unknown_type() -> None:
    with pytest.raises(InvalidArgument, match="bogus"):
        new_hasher("bogus")
