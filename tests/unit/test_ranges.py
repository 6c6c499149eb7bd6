"""Range header parsing and resolution."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aismesh.cmn.errors import InvalidArgument, RangeNotSatisfiable
from aismesh.cmn.ranges import MAX_INT64, ByteRange, parse_decimal, parse_range


@pytest.mark.parametrize(("header", "size", "expected"), [
    ("bytes=0-4", 10, (0, 5)),
    ("bytes=6-", 10, (6, 4)),
    ("bytes=-4", 10, (6, 4)),
    ("bytes=5-100", 10, (5, 5)),
    ("bytes=-100", 10, (0, 10)),
    ("Bytes = 0-0", 10, (0, 1)),
])
def test_resolve(header: str, size: int, expected: tuple[int, int]) -> None:
    rng = parse_range(header)
    assert rng is not None
    assert rng.resolve(size) == expected


def test_absent() -> None:
    assert parse_range("") is None


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20"])
def test_start_beyond_size(header: str) -> None:
    rng = parse_range(header)
    assert rng is not None
    with pytest.raises(RangeNotSatisfiable) as e:
        rng.resolve(10)
    assert e.value.object_size == 10


def test_suffix_of_empty_object() -> None:
    with pytest.raises(RangeNotSatisfiable):
        ByteRange(start=None, end=None, suffix=3).resolve(0)


@pytest.mark.parametrize("header", ["bytes=a-b", "items=0-1", "bytes=5-2", "bytes=-", "bytes=-0", "bytes 0-1"])
def test_malformed(header: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_range(header)


def test_multi_range_refused() -> None:
    with pytest.raises(RangeNotSatisfiable):
        parse_range("bytes=0-1,4-5")


@given(size=st.integers(1, 10_000), a=st.integers(0, 12_000), b=st.integers(0, 12_000))
def test_matches_slicing(size: int, a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    data = bytes(size)
    rng = parse_range(f"bytes={start}-{end}")
    assert rng is not None
    if start >= size:
        with pytest.raises(RangeNotSatisfiable):
            rng.resolve(size)
        return
    off, length = rng.resolve(size)
    assert data[off:off + length] == data[start:end + 1]
    assert ByteRange.from_proto(rng.to_proto()) == rng


@given(size=st.integers(1, 10_000), n=st.integers(1, 12_000))
def test_suffix_matches_slicing(size: int, n: int) -> None:
    rng = parse_range(f"bytes=-{n}")
    assert rng is not None
    off, length = rng.resolve(size)
    assert (off, off + length) == (max(0, size - n), size)
    assert ByteRange.from_proto(rng.to_proto()) == rng


HUGE = "99999999999999999999999"


@pytest.mark.parametrize(("header", "size", "expected"), [
    (f"bytes=0-{HUGE}", 10, (0, 10)),
    (f"bytes=3-{'9' * 5000}", 10, (3, 7)),
    (f"bytes=-{HUGE}", 10, (0, 10)),
    (f"bytes=-{'9' * 5000}", 10, (0, 10)),
    (f"bytes=00000000000000000000000000004-{HUGE}", 10, (4, 6)),
])
def test_numbers_beyond_int64_are_capped(header: str, size: int, expected: tuple[int, int]) -> None:
    rng = parse_range(header)
    assert rng is not None
    assert rng.resolve(size) == expected
    assert ByteRange.from_proto(rng.to_proto()) == rng  # fits the proto's int64 fields


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}", f"bytes={'9' * 5000}-"])
def test_start_beyond_int64_is_unsatisfiable(header: str) -> None:
    rng = parse_range(header)
    assert rng is not None
    rng.to_proto()
    with pytest.raises(RangeNotSatisfiable):
        rng.resolve(1 << 62)


@pytest.mark.parametrize("header", [f"bytes={HUGE}-1", "bytes=+1-2", "bytes=1-+2", "bytes=-+2", "bytes=1_0-20",
                                    "bytes=\u0661-2", "bytes=1-\u00b2", "bytes=-0000"])
def test_not_plain_digits(header: str) -> None:
    with pytest.raises(InvalidArgument):
        parse_range(header)


@pytest.mark.parametrize(("text", "expected"), [
    ("0", 0), ("007", 7), (str(MAX_INT64), MAX_INT64), (str(MAX_INT64 + 1), MAX_INT64), ("9" * 5000, MAX_INT64),
    ("0" * 5000 + "12", 12), ("", None), ("-1", None), ("+1", None), (" 1", None), ("1 ", None), ("1_0", None),
    ("\u0661", None), ("\u00b2", None), ("0x10", None), ("1.0", None),
])
def test_parse_decimal(text: str, expected: int | None) -> None:
    assert parse_decimal(text) == expected


@given(n=st.integers(0, 1 << 80), cap=st.integers(0, 1 << 70))
def test_parse_decimal_is_min_of_int_and_cap(n: int, cap: int) -> None:
    assert parse_decimal(str(n), cap) == min(n, cap)
