"""HTTP Range header parsing and resolution against an object size (RFC 9110 §14)."""

from __future__ import annotations

from dataclasses import dataclass

from aismesh.cmn.errors import InvalidArgument, RangeNotSatisfiable
from aismesh.protos import types_pb2


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
    """Parse a Range header value; None when absent; one range only (multi-range is refused)."""
    header = header.strip()
    if not header:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise InvalidArgument(f'invalid Range header "{header}": expected "bytes=<start>-<end>"')
    if "," in spec:
        raise RangeNotSatisfiable(f'multiple ranges are not supported: "{header}"')
    first, dash, last = spec.strip().partition("-")
    if not dash:
        raise InvalidArgument(f'invalid Range header "{header}": missing "-"')
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0 or not last.isdigit():
                raise ValueError
            return ByteRange(start=None, end=None, suffix=suffix)
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError
        start = int(first)
        end = int(last) if last else None
    except ValueError:
        raise InvalidArgument(f'invalid Range header "{header}"') from None
    if end is not None and end < start:
        raise InvalidArgument(f'invalid Range header "{header}": end is before start')
    return ByteRange(start=start, end=end)
