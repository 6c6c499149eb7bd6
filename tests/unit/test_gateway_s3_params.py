"""Numbers in S3 query strings and headers."""

from urllib.parse import urlencode

import pytest
from flask import Flask

from aismesh.cmn.ranges import MAX_INT64
from services.gateway.s3 import params
from services.gateway.s3.errors import S3Error

app = Flask(__name__)


def query_int(value: str, hi: int = 1000) -> int:
    with app.test_request_context("/?" + urlencode({"max-keys": value})):
        return params.query_int("max-keys", 1000, hi)


@pytest.mark.parametrize(("value", "expected"), [("", 1000), ("0", 0), ("5", 5), ("1001", 1000),
                                                 ("9" * 5000, 1000), (str(1 << 64), 1000)])
def test_query_int(value: str, expected: int) -> None:
    assert query_int(value) == expected


@pytest.mark.parametrize("value", ["-1", "abc", " 5", "5 ", "1_0", "1e3", "\u0661", "0x10"])
def test_query_int_refused(value: str) -> None:
    with pytest.raises(S3Error) as e:
        query_int(value)
    assert (e.value.code, e.value.status) == ("InvalidArgument", 400)
    assert ("ArgumentName", "max-keys") in e.value.extra


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("10000", 10000), ("0001", 1)])
def test_part_number(value: str, expected: int) -> None:
    assert params.part_number(value) == expected


@pytest.mark.parametrize("value", ["0", "10001", "9" * 20, "9" * 5000, "", "-1", "1.5", " 1", "\u0661"])
def test_part_number_refused(value: str) -> None:
    with pytest.raises(S3Error) as e:
        params.part_number(value)
    assert e.value.code == "InvalidArgument"
    assert e.value.message.startswith("Part number must be an integer between 1 and 10000")


@pytest.mark.parametrize(("value", "expected"), [(None, None), ("", None), ("0", 0), ("123", 123),
                                                 (str(MAX_INT64), MAX_INT64)])
def test_length_header(value: str | None, expected: int | None) -> None:
    headers = {} if value is None else {"x-amz-decoded-content-length": value}
    assert params.length_header("x-amz-decoded-content-length", headers) == expected


@pytest.mark.parametrize("value", [str(MAX_INT64 + 1), "9" * 5000, "-5", "12abc"])
def test_length_header_refused(value: str) -> None:
    with pytest.raises(S3Error, match="x-amz-decoded-content-length"):
        params.length_header("x-amz-decoded-content-length", {"x-amz-decoded-content-length": value})
