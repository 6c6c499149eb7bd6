"""Numbers S3 clients send in query strings and headers, parsed once and refused as S3 does.

Every one goes through ``ranges.parse_decimal``: ASCII digits only, never an over-long string
handed to ``int()``, and capped so that no client value overflows an int64 field downstream.
"""

from __future__ import annotations

from flask import request

from aismesh.cmn.ranges import MAX_INT64, parse_decimal
from services.gateway.multipart import MAX_PART_NUMBER
from services.gateway.s3.errors import S3Error
from services.gateway.s3.headers import HeaderMap


def _shown(raw: str) -> str:
    return raw if len(raw) <= 32 else raw[:32] + "..."


def _invalid(name: str, raw: str, message: str) -> S3Error:
    return S3Error("InvalidArgument", 400, message, extra=(("ArgumentName", name), ("ArgumentValue", _shown(raw))))


def query_int(name: str, default: int, hi: int) -> int:
    """A non-negative integer query argument (``max-keys``...): ``default`` when absent, at most ``hi``."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    value = parse_decimal(raw)
    if value is None:
        raise _invalid(name, raw, f"{name} must be a non-negative integer, got {_shown(raw)!r}")
    return min(value, hi)


def part_number(raw: str, name: str = "partNumber") -> int:
    """A part number, 1..10000, from the query (UploadPart) or a CompleteMultipartUpload body."""
    value = parse_decimal(raw)
    if value is None or not 1 <= value <= MAX_PART_NUMBER:
        raise _invalid(name, raw, f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive")
    return value


def length_header(name: str, headers: HeaderMap) -> int | None:
    """A byte count in a header (``x-amz-decoded-content-length``); None when absent."""
    raw = (headers.get(name) or "").strip()
    if not raw:
        return None
    value = parse_decimal(raw, cap=MAX_INT64 + 1)
    if value is None or value > MAX_INT64:
        raise _invalid(name, raw, f"{name} must be a number of bytes between 0 and {MAX_INT64}, got {_shown(raw)!r}")
    return value


def encoding_type() -> str:
    """The ``encoding-type`` of a listing: "" or "url" (S3 knows no other)."""
    value = request.args.get("encoding-type", "")
    if value not in ("", "url"):
        raise S3Error("InvalidArgument", 400, f"Invalid Encoding Method specified in Request: {_shown(value)!r}",
                      extra=(("ArgumentName", "encoding-type"), ("ArgumentValue", _shown(value))))
    return value
