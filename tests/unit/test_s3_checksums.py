"""S3 flexible checksums: the algorithms against reference values, header parsing, composites."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.datastructures import Headers

from aismesh.cmn.errors import InvalidArgument
from services.gateway.s3 import checksums
from services.gateway.s3.checksums import Expected, Verified, checksum_b64, crc64nvme_py

CHECK = b"123456789"  # the CRC catalogue's check input


def test_check_values() -> None:
    assert base64.b64decode(checksum_b64("crc32", CHECK)).hex() == "cbf43926"
    assert base64.b64decode(checksum_b64("crc32c", CHECK)).hex() == "e3069283"
    assert base64.b64decode(checksum_b64("crc64nvme", CHECK)).hex() == "ae8b14860a799888"
    assert crc64nvme_py(CHECK) == 0xAE8B14860A799888


@given(st.binary(max_size=3000), st.integers(min_value=0, max_value=3000))
def test_crc64nvme_streams_like_one_call(data: bytes, cut: int) -> None:
    h = checksums.new_hasher("crc64nvme")
    h.update(data[:cut])
    h.update(data[cut:])
    assert h.digest() == crc64nvme_py(data).to_bytes(8, "big")


def test_expected_from_headers() -> None:
    value = checksum_b64("sha256", b"x")
    assert checksums.expected(Headers({"x-amz-checksum-sha256": value})) == Expected("sha256", value)
    assert checksums.expected(Headers({"x-amz-trailer": "x-amz-checksum-crc32"})) == Expected("crc32", None)
    assert checksums.expected(Headers({"Content-Type": "a/b"})) is None
    for bad in ({"x-amz-checksum-crc32": "AAAA"},  # 3 bytes, not 4
                {"x-amz-checksum-crc32": value},   # a sha256 is not a crc32
                {"x-amz-sdk-checksum-algorithm": "CRC32"},  # declared, not given
                {"x-amz-trailer": "x-amz-checksum-md5"},
                {"x-amz-checksum-crc32": "AAAAAA==", "x-amz-checksum-sha1": checksum_b64("sha1", b"")}):
        with pytest.raises(InvalidArgument) as e:
            checksums.expected(Headers(bad))
        assert e.value.reason == "invalid-checksum"


def test_verify_mismatch_is_bad_digest_before_the_end() -> None:
    exp = Expected("crc32", checksum_b64("crc32", b"abc"))
    done = Verified()
    assert b"".join(checksums.verify(iter([b"a", b"bc"]), exp, {}, done)) == b"abc"
    assert done.value == exp.value
    with pytest.raises(InvalidArgument) as e:
        b"".join(checksums.verify(iter([b"a", b"bd"]), exp, {}, Verified()))
    assert e.value.reason == "bad-digest"


def test_composite_of_parts() -> None:
    parts = [checksum_b64("crc32", b"one"), checksum_b64("crc32", b"two")]
    raw = b"".join(base64.b64decode(p) for p in parts)
    assert checksums.composite("crc32", parts) == checksum_b64("crc32", raw) + "-2"
    alg, custom = checksums.completed_from_parts([{"crc32": parts[0]}, {"crc32": parts[1]}])
    assert alg == "crc32" and custom == {"s3.checksum-crc32": checksum_b64("crc32", raw) + "-2"}
    assert checksums.completed_from_parts([{}, {}]) == ("", {})
    assert checksums.completed_from_parts([{"crc32": parts[0]}, {}]) == ("crc32", {})  # not every part has one
    # What the parts were uploaded with counts; the request need not repeat it, and may not contradict it.
    kept = [f"crc32:{p}" for p in parts]
    assert checksums.completed_from_parts([{}, {}], kept) == (alg, custom)
    with pytest.raises(InvalidArgument) as e:
        checksums.completed_from_parts([{"crc32": parts[1]}, {}], kept)
    assert e.value.reason == "invalid-part"
    with pytest.raises(InvalidArgument):
        checksums.completed_from_parts([{"sha1": checksum_b64("sha1", b"one")}, {}], kept)


def test_response_headers_only_when_asked_and_for_the_whole_object() -> None:
    custom = {"s3.checksum-sha1": "abc=", "color": "red"}
    assert checksums.response_headers(custom, Headers({})) == {}
    assert checksums.response_headers(custom, Headers({"x-amz-checksum-mode": "ENABLED"})) == {
        "x-amz-checksum-sha1": "abc=", "x-amz-checksum-type": "FULL_OBJECT"}
    assert checksums.response_headers(custom, Headers({"x-amz-checksum-mode": "ENABLED", "Range": "bytes=0-1"})) == {}
