"""ListObjectsV2 continuation tokens: opaque to clients, checked when they come back.

A token is the URL-safe base64 of ``MAGIC + crc32(name) + name``: the magic is its version,
the checksum catches tokens we did not issue (a typo, random bytes, the base64 of some name),
and decoding is strict (the token must be exactly what ``encode_token`` would write), so a
bad token is refused instead of listing from the start or from an arbitrary name.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from services.gateway.s3.errors import S3Error

_MAGIC = b"ais1"
_CRC_BYTES = 4
_ALPHABET = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def bad_token() -> S3Error:
    return S3Error("InvalidArgument", 400, "The continuation token provided is incorrect")


def _crc(raw: bytes) -> bytes:
    return zlib.crc32(raw).to_bytes(_CRC_BYTES, "big")


def encode_token(name: str) -> str:
    """The token that resumes a listing after ``name``."""
    raw = name.encode()
    return base64.urlsafe_b64encode(_MAGIC + _crc(raw) + raw).decode()


def decode_token(token: str) -> str:
    """The name a token we issued resumes after; S3Error InvalidArgument for any other token."""
    if not token.isascii() or not _ALPHABET.fullmatch(token):
        raise bad_token()
    try:
        payload = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        raise bad_token() from None
    head, raw = payload[:len(_MAGIC) + _CRC_BYTES], payload[len(_MAGIC) + _CRC_BYTES:]
    if head != _MAGIC + _crc(raw):
        raise bad_token()
    try:
        name = raw.decode()
    except UnicodeDecodeError:
        raise bad_token() from None
    if encode_token(name) != token:
        raise bad_token()
    return name
