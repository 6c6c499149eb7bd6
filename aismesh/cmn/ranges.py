"""HTTP Range header parsing and resolution against an object size (RFC 9110 §14).

Also the one parser of decimal numbers that clients send in headers and query strings:
``parse_decimal`` never hands an over-long digit string to ``int()`` (which refuses more than
4300 digits) and caps what it returns, so no value from a client overflows an int64 field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aismesh.cmn.errors import InvalidArgument, RangeNotSatisfiable
from aismesh.protos import types_pb2

MAX_INT64 = (1 << 63) - 1
_DIGITS = re.compile(r"[0-9]+")


def parse_decimal(text: str, cap: int = MAX_INT64) -> int | None:
    """ASCII decimal digits as an int, values above ``cap`` as ``cap``; None when not digits.

    Signs, spaces, underscores and non-ASCII digits (all of which ``int()`` accepts) are refused.
    """
    if not _DIGITS.fullmatch(text):
        return None
    significant = text.lstrip("0") or "0"
    if len(significant) > len(str(cap)):
        return cap
    return min(int(significant), cap)


@dataclass(frozen=True)
class ByteRange:
    """One requested range: ``start``-``end`` (end inclusive, None = to the end), or a suffix."""

    start: int | None
    end: int | None
    suffix: int = 0

    def to_proto(self) -> types_pb2.ByteRange:
        if self.start is None:
            return types_pb2.ByteRange(suffix_length=self.suffix, end=-1)
        return types_pb2.ByteRange(start=self.start, end=-1 if self.end is None else self.end)

    @classmethod
    def from_proto(cls, r: types_pb2.ByteRange) -> ByteRange:
        if r.suffix_length > 0:
            return cls(start=None, end=None, suffix=r.suffix_length)
        return cls(start=r.start, end=None if r.end < 0 else r.end)

    def resolve(self, size: int) -> tuple[int, int]:
        """(offset, length) within an object of ``size`` bytes; raises RangeNotSatisfiable."""
        if self.start is None:
            if size == 0:
                raise RangeNotSatisfiable("range not satisfiable: the object is empty", object_size=size)
            length = min(self.suffix, size)
            return size - length, length
        if self.start >= size:
            raise RangeNotSatisfiable(
                f"range start {self.start} is beyond the object size {size}", object_size=size
            )
        end = size - 1 if self.end is None else min(self.end, size - 1)
        return self.start, end - self.start + 1


def parse_range(header: str) -> ByteRange | None:
    """Parse a Range header value; None when absent; one range only (multi-range is refused).

    Numbers beyond int64 are capped at MAX_INT64, which no object reaches: an end past the
    object is the object's end, a start past it is unsatisfiable, a huge suffix is the object.
    """
    header = header.strip()
    if not header:
        return None
    shown = header if len(header) <= 64 else header[:64] + "..."
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise InvalidArgument(f'invalid Range header "{shown}": expected "bytes=<start>-<end>"')
    if "," in spec:
        raise RangeNotSatisfiable(f'multiple ranges are not supported: "{shown}"')
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise InvalidArgument(f'invalid Range header "{shown}": missing "-"')
    if first == "":
        suffix = parse_decimal(last)
        if not suffix:
            raise InvalidArgument(f'invalid Range header "{shown}"')
        return ByteRange(start=None, end=None, suffix=suffix)
    start = parse_decimal(first)
    end = parse_decimal(last) if last else None
    if start is None or (last and end is None):
        raise InvalidArgument(f'invalid Range header "{shown}"')
    if end is not None and end < start:
        raise InvalidArgument(f'invalid Range header "{shown}": end is before start')
    return ByteRange(start=start, end=end)
