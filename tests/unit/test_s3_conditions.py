"""The S3 precedence table of If-* headers (services/gateway/s3/conditions.py)."""

from __future__ import annotations

import pytest

from services.gateway.s3.conditions import (
    Conditions,
    Verdict,
    WriteCheck,
    etag_matches,
    evaluate,
    evaluate_copy_source,
    evaluate_write,
    from_headers,
    parse_http_date,
)

ETAG = '"abc"'
MTIME = 1_000_000
BEFORE, AFTER = MTIME - 10, MTIME + 10


@pytest.mark.parametrize(("cond", "verdict"), [
    (Conditions(), Verdict.PROCEED),
    (Conditions(if_match='"abc"'), Verdict.PROCEED),
    (Conditions(if_match="abc"), Verdict.PROCEED),
    (Conditions(if_match='"x", "abc"'), Verdict.PROCEED),
    (Conditions(if_match="*"), Verdict.PROCEED),
    (Conditions(if_match='"nope"'), Verdict.FAILED),
    (Conditions(if_unmodified_since=AFTER), Verdict.PROCEED),
    (Conditions(if_unmodified_since=MTIME), Verdict.PROCEED),
    (Conditions(if_unmodified_since=BEFORE), Verdict.FAILED),
    # If-Match true wins over If-Unmodified-Since false
    (Conditions(if_match=ETAG, if_unmodified_since=BEFORE), Verdict.PROCEED),
    (Conditions(if_match='"nope"', if_unmodified_since=AFTER), Verdict.FAILED),
    (Conditions(if_none_match='"nope"'), Verdict.PROCEED),
    (Conditions(if_none_match=ETAG), Verdict.NOT_MODIFIED),
    (Conditions(if_none_match="*"), Verdict.NOT_MODIFIED),
    (Conditions(if_modified_since=BEFORE), Verdict.PROCEED),
    (Conditions(if_modified_since=MTIME), Verdict.NOT_MODIFIED),
    (Conditions(if_modified_since=AFTER), Verdict.NOT_MODIFIED),
    # If-None-Match false + If-Modified-Since true -> 304
    (Conditions(if_none_match=ETAG, if_modified_since=BEFORE), Verdict.NOT_MODIFIED),
    # If-None-Match true wins over If-Modified-Since false
    (Conditions(if_none_match='"nope"', if_modified_since=AFTER), Verdict.PROCEED),
    # 412 is decided before 304
    (Conditions(if_match='"nope"', if_none_match=ETAG), Verdict.FAILED),
    (Conditions(if_unmodified_since=BEFORE, if_modified_since=AFTER), Verdict.FAILED),
    (Conditions(if_match=ETAG, if_none_match=ETAG), Verdict.NOT_MODIFIED),
])
def test_precedence(cond: Conditions, verdict: Verdict) -> None:
    assert evaluate(cond, ETAG, MTIME) is verdict


def test_copy_source_never_304() -> None:
    assert evaluate_copy_source(Conditions(if_none_match=ETAG), ETAG, MTIME) is Verdict.FAILED
    assert evaluate_copy_source(Conditions(if_modified_since=AFTER), ETAG, MTIME) is Verdict.FAILED
    assert evaluate_copy_source(Conditions(if_match=ETAG, if_unmodified_since=BEFORE), ETAG, MTIME) \
        is Verdict.PROCEED


def test_from_headers_and_prefix() -> None:
    headers = {"x-amz-copy-source-if-match": '"abc"', "if-none-match": "*",
               "x-amz-copy-source-if-modified-since": "Sun, 06 Nov 1994 08:49:37 GMT",
               "x-amz-copy-source-if-unmodified-since": "not a date"}
    own = from_headers(headers)
    assert own.if_none_match == "*" and own.if_match is None and not own.is_empty
    src = from_headers(headers, "x-amz-copy-source-")
    assert src.if_match == '"abc"' and src.if_none_match is None
    assert src.if_modified_since == 784111777
    assert src.if_unmodified_since is None  # unparsable dates are ignored
    assert from_headers({}).is_empty


@pytest.mark.parametrize("value", ["Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
                                   "Sun Nov  6 08:49:37 1994"])
def test_http_date_forms(value: str) -> None:
    assert parse_http_date(value) == 784111777


@pytest.mark.parametrize("value", ["", "yesterday", "2024-01-01T00:00:00Z", "Sun, 99 Nov 1994 08:49:37 GMT"])
def test_bad_dates(value: str) -> None:
    assert parse_http_date(value) is None


def test_etag_matches_weak_and_lists() -> None:
    assert etag_matches('W/"abc"', "abc")
    assert etag_matches(' "x" ,"abc" ', '"abc"')
    assert not etag_matches('"abcd"', '"abc"')


@pytest.mark.parametrize(("cond", "current", "check"), [
    (Conditions(), None, WriteCheck.PROCEED),
    (Conditions(if_none_match="*"), None, WriteCheck.PROCEED),
    (Conditions(if_none_match="*"), ETAG, WriteCheck.FAILED),
    (Conditions(if_none_match=ETAG), ETAG, WriteCheck.NOT_IMPLEMENTED),
    (Conditions(if_match=ETAG), ETAG, WriteCheck.PROCEED),
    (Conditions(if_match='"nope"'), ETAG, WriteCheck.FAILED),
    (Conditions(if_match=ETAG), None, WriteCheck.NO_SUCH_KEY),
    (Conditions(if_modified_since=BEFORE), ETAG, WriteCheck.PROCEED),
])
def test_write_conditions(cond: Conditions, current: str | None, check: WriteCheck) -> None:
    assert evaluate_write(cond, current) is check
