"""Object headers S3 stores and returns: Content-Type, the representation headers, x-amz-meta-*.

The storage node keeps a content type and a map of custom metadata. The representation headers
S3 round-trips (Content-Encoding, Content-Disposition, Content-Language, Cache-Control, Expires)
go into that map under the reserved prefix ``s3.``, which the S3 layer never shows as
x-amz-meta-*. A user key that itself starts with ``s3.`` is kept as ``s3.u.<key>`` so it can
neither collide with nor forge a reserved one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class HeaderMap(Protocol):
    """What both a dict and werkzeug's case-insensitive Headers offer."""

    def get(self, key: str) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...

RESERVED = "s3."
_USER_ESCAPE = RESERVED + "u."
# Stored header name -> the name a response carries it under.
STORED = {
    "content-encoding": "Content-Encoding",
    "content-disposition": "Content-Disposition",
    "content-language": "Content-Language",
    "cache-control": "Cache-Control",
    "expires": "Expires",
}
_META = "x-amz-meta-"


def _without_aws_chunked(encoding: str) -> str:
    """Content-Encoding minus the ``aws-chunked`` transfer marker (S3 does not store it)."""
    codings = [c.strip() for c in encoding.split(",")]
    return ", ".join(c for c in codings if c and c.lower() != "aws-chunked")


def user_metadata(headers: HeaderMap) -> dict[str, str]:
    """The request's x-amz-meta-* as stored keys (lower case; ``s3.`` keys escaped)."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower().startswith(_META):
            key = name[len(_META):].lower()
            out[_USER_ESCAPE + key if key.startswith(RESERVED) else key] = value
    return out


def representation(headers: HeaderMap) -> dict[str, str]:
    """The representation headers of a request, as reserved custom-metadata entries."""
    out: dict[str, str] = {}
    for name in STORED:
        value = headers.get(name)
        if value is None:
            continue
        if name == "content-encoding":
            value = _without_aws_chunked(value)
        if value:
            out[RESERVED + name] = value
    return out


def stored_custom(headers: HeaderMap) -> dict[str, str]:
    """Everything a PUT (or a REPLACE copy, or CreateMultipartUpload) stores in custom metadata."""
    return {**user_metadata(headers), **representation(headers)}


def response_headers(custom: Mapping[str, str]) -> dict[str, str]:
    """The headers an object's custom metadata answers with: x-amz-meta-* and the stored representation."""
    out: dict[str, str] = {}
    for key, value in custom.items():
        if key.startswith(_USER_ESCAPE):
            out[_META + key[len(_USER_ESCAPE):]] = value
        elif key.startswith(RESERVED):
            shown = STORED.get(key[len(RESERVED):])
            if shown:
                out[shown] = value
        else:
            out[_META + key] = value
    return out


# GetObject's response-* query parameters: the header each one overrides in that answer.
OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def overrides(args: HeaderMap) -> dict[str, str]:
    """The headers GetObject/HeadObject's ``response-*`` query parameters set for this answer."""
    out: dict[str, str] = {}
    for param, header in OVERRIDES.items():
        value = args.get(param)
        if value is not None:
            out[header] = value
    return out
