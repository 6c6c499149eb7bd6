"""S3 conditional requests: If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since.

Pure functions over plain data (the headers, the object's ETag and Last-Modified second);
the routes turn a verdict into 304/412. AWS's precedence (RFC 9110 §13.2.2):

    1. If-Match false                    -> 412   (If-Unmodified-Since is then not looked at)
    2. no If-Match, If-Unmodified-Since false -> 412
    3. If-None-Match false               -> 304 on GET/HEAD, 412 otherwise
                                            (If-Modified-Since is then not looked at)
    4. no If-None-Match, If-Modified-Since false -> 304 on GET/HEAD, 412 otherwise

So If-Match true + If-Unmodified-Since false proceeds, and If-None-Match false +
If-Modified-Since true is 304. The copy-source variants (``x-amz-copy-source-if-*``) follow
the same table with 412 in place of 304. A date that does not parse is ignored, as S3 does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

from services.gateway.s3.errors import S3Error
from services.gateway.s3.headers import HeaderMap


class Verdict(enum.Enum):
    PROCEED = "proceed"
    NOT_MODIFIED = "not-modified"  # 304 on GET/HEAD
    FAILED = "failed"  # 412


@dataclass(frozen=True)
class Conditions:
    """The If-* headers of one request; None when absent (dates also None when unparsable)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: int | None = None  # Unix seconds
    if_unmodified_since: int | None = None

    @property
    def is_empty(self) -> bool:
        return (self.if_match, self.if_none_match, self.if_modified_since,
                self.if_unmodified_since) == (None, None, None, None)


def parse_http_date(value: str) -> int | None:
    """Unix seconds of an HTTP date (RFC 7231 and the obsolete forms), None when it does not parse."""
    try:
        return int(parsedate_to_datetime(value.strip()).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def from_headers(headers: HeaderMap, prefix: str = "") -> Conditions:
    """The conditions in ``headers``: ``prefix`` "" for the request's own, "x-amz-copy-source-" for the source's."""

    def get(name: str) -> str | None:
        return headers.get(prefix + name)

    ims, ius = get("if-modified-since"), get("if-unmodified-since")
    return Conditions(
        if_match=get("if-match"),
        if_none_match=get("if-none-match"),
        if_modified_since=None if ims is None else parse_http_date(ims),
        if_unmodified_since=None if ius is None else parse_http_date(ius),
    )


def _bare(tag: str) -> str:
    tag = tag.strip()
    if tag.startswith("W/"):
        tag = tag[2:]
    return tag.strip('"')


def etag_matches(header: str, etag: str) -> bool:
    """Whether ``etag`` (quoted or not) is in the comma-separated list ``header`` ("*" matches any)."""
    tags = [_bare(t) for t in header.split(",")]
    return "*" in tags or _bare(etag) in tags


def evaluate(cond: Conditions, etag: str, mtime_s: int) -> Verdict:
    """The verdict for an existing object with ``etag`` last modified at ``mtime_s``."""
    if cond.if_match is not None:
        if not etag_matches(cond.if_match, etag):
            return Verdict.FAILED
    elif cond.if_unmodified_since is not None and mtime_s > cond.if_unmodified_since:
        return Verdict.FAILED
    if cond.if_none_match is not None:
        if etag_matches(cond.if_none_match, etag):
            return Verdict.NOT_MODIFIED
    elif cond.if_modified_since is not None and mtime_s <= cond.if_modified_since:
        return Verdict.NOT_MODIFIED
    return Verdict.PROCEED


def evaluate_copy_source(cond: Conditions, etag: str, mtime_s: int) -> Verdict:
    """The copy-source table: whatever does not proceed is 412."""
    verdict = evaluate(cond, etag, mtime_s)
    return Verdict.FAILED if verdict is Verdict.NOT_MODIFIED else verdict


class WriteCheck(enum.Enum):
    PROCEED = "proceed"
    FAILED = "failed"  # 412 PreconditionFailed
    NO_SUCH_KEY = "no-such-key"  # If-Match on a key that does not exist: 404
    NOT_IMPLEMENTED = "not-implemented"  # a condition S3 does not support on writes


def evaluate_write(cond: Conditions, current_etag: str | None) -> WriteCheck:
    """PutObject/CompleteMultipartUpload/CopyObject destination: ``If-None-Match: *`` (only "*", as
    S3) and ``If-Match: <etag>``; ``current_etag`` None when the key does not exist."""
    if cond.if_none_match is not None and cond.if_none_match.strip() != "*":
        return WriteCheck.NOT_IMPLEMENTED
    if cond.if_none_match is not None and current_etag is not None:
        return WriteCheck.FAILED
    if cond.if_match is not None:
        if current_etag is None:
            return WriteCheck.NO_SUCH_KEY
        if not etag_matches(cond.if_match, current_etag):
            return WriteCheck.FAILED
    return WriteCheck.PROCEED


def precondition_failed(resource: str = "", condition: str = "") -> S3Error:
    extra = (("Condition", condition),) if condition else ()
    return S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold",
                   resource, extra)


def require_write(cond: Conditions, current_etag: str | None, resource: str) -> None:
    """Raise the S3 error a write's conditions call for against the key's current ETag (None: absent)."""
    check = evaluate_write(cond, current_etag)
    if check is WriteCheck.FAILED:
        raise precondition_failed(resource, "If-None-Match" if cond.if_none_match is not None
                                  and current_etag is not None else "If-Match")
    if check is WriteCheck.NO_SUCH_KEY:
        raise S3Error("NoSuchKey", 404, "The specified key does not exist.", resource,
                      (("Key", resource.split("/", 2)[-1]),))
    if check is WriteCheck.NOT_IMPLEMENTED:
        raise S3Error("NotImplemented", 501, "A header you provided implies functionality that is not "
                      "implemented: only If-None-Match: * is supported on writes", resource,
                      (("Header", "If-None-Match"),))


@dataclass(frozen=True)
class CommitCondition:
    """What the owner node checks again at commit, under the object's lock (atomic)."""

    if_absent: bool = False
    if_match_etag: str = ""  # one ETag, unquoted; a list or "*" is checked by the gateway only


def commit_condition(cond: Conditions) -> CommitCondition:
    tags = [] if cond.if_match is None else [_bare(t) for t in cond.if_match.split(",")]
    return CommitCondition(if_absent=cond.if_none_match is not None,
                           if_match_etag=tags[0] if len(tags) == 1 and tags[0] != "*" else "")


NO_CONDITION = CommitCondition()
