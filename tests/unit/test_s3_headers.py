"""Stored and returned object headers (services/gateway/s3/headers.py)."""

from __future__ import annotations

from werkzeug.datastructures import Headers

from services.gateway.s3.headers import representation, response_headers, stored_custom, user_metadata


def test_round_trip_of_representation_and_user_metadata() -> None:
    req = Headers([("Content-Encoding", "gzip, aws-chunked"), ("Cache-Control", "no-cache"),
                   ("Content-Disposition", 'attachment; filename="a b"'), ("Content-Language", "fr"),
                   ("Expires", "Thu, 01 Dec 2094 16:00:00 GMT"), ("X-Amz-Meta-Color", "blue"),
                   ("x-amz-meta-s3.content-encoding", "forged"), ("Content-Type", "text/plain")])
    custom = stored_custom(req)
    assert custom["s3.content-encoding"] == "gzip"
    assert custom["color"] == "blue"
    assert custom["s3.u.s3.content-encoding"] == "forged"
    assert "content-type" not in custom and "s3.content-type" not in custom
    back = response_headers(custom)
    assert back == {"Content-Encoding": "gzip", "Cache-Control": "no-cache",
                    "Content-Disposition": 'attachment; filename="a b"', "Content-Language": "fr",
                    "Expires": "Thu, 01 Dec 2094 16:00:00 GMT", "x-amz-meta-color": "blue",
                    "x-amz-meta-s3.content-encoding": "forged"}


def test_only_aws_chunked_is_not_stored() -> None:
    assert representation({"content-encoding": "aws-chunked"}) == {}
    assert representation({"content-encoding": "AWS-CHUNKED,br"}) == {"s3.content-encoding": "br"}


def test_unknown_reserved_keys_stay_hidden() -> None:
    assert response_headers({"s3.future-thing": "x", "k": "v"}) == {"x-amz-meta-k": "v"}
    assert user_metadata({"X-AMZ-META-Upper": "1"}) == {"upper": "1"}
