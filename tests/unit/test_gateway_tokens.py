"""ListObjectsV2 continuation tokens: what we issue pages on, anything else is refused."""

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.s3.errors import S3Error
from services.gateway.s3.tokens import decode_token, encode_token


@given(st.text())
def test_token_round_trip(name: str) -> None:
    assert decode_token(encode_token(name)) == name


def refused(token: str) -> bool:
    try:
        decode_token(token)
    except S3Error as e:
        assert (e.code, e.status, e.message) == ("InvalidArgument", 400, "The continuation token provided is incorrect")
        return True
    return False


@pytest.mark.parametrize("token", [
    "", "abcd", "!!!", "a", "====", "a b", "\u00e9",
    base64.urlsafe_b64encode(os.urandom(24)).decode(),
    base64.urlsafe_b64encode(b"obj-2").decode(),
    base64.urlsafe_b64encode(b"ais1" + b"\0\0\0\0" + b"obj-2").decode(),
])
def test_tokens_we_did_not_issue(token: str) -> None:
    assert refused(token)


@given(name=st.text(max_size=50), data=st.data())
def test_any_change_to_a_token_is_refused(name: str, data: st.DataObject) -> None:
    token = encode_token(name)
    raw = bytearray(base64.urlsafe_b64decode(token))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    assert refused(base64.urlsafe_b64encode(bytes(raw)).decode())
    assert refused(token.rstrip("=") + "A") and refused(" " + token) and refused(token + "\n")


@given(st.binary(max_size=64))
def test_random_bytes_are_refused(raw: bytes) -> None:
    assert refused(base64.urlsafe_b64encode(raw).decode())
