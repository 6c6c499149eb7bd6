"""The gateway's Prometheus metrics: requests by API, operation and status, latency, bytes.

gunicorn runs several worker processes, so these live in prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``__main__`` before any worker starts); the master serves
the sum of all workers on the metrics port.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from prometheus_client import Counter, Histogram
from werkzeug.wrappers import Request, Response

from aismesh.cmn.log import event
from aismesh.cmn.metrics import LATENCY_BUCKETS

log = logging.getLogger("gateway")
# A request's id in its WSGI environ, set by whichever path serves it (app.py or s3/hot.py).
REQUEST_ID = "aismesh.request_id"
_QUIET_METHODS = ("GET", "HEAD")

REQUESTS = Counter("aismesh_http_requests_total", "HTTP requests served, by API, operation and status",
                   ["api", "op", "status"])
SECONDS = Histogram("aismesh_http_request_duration_seconds", "Time to the response's first byte",
                    ["api", "op"], buckets=LATENCY_BUCKETS)
BYTES = Counter("aismesh_http_body_bytes_total", "Request and response body bytes (as declared)", ["direction"])

_NATIVE_RESOURCES = frozenset(("buckets", "cluster", "daemon", "health", "ml", "objects", "reverse", "other"))
_S3_BUCKET_GETS = (("uploads", "ListMultipartUploads"), ("location", "GetBucketLocation"),
                   ("versioning", "GetBucketVersioning"))


def s3_op(method: str, bucket: str, key: str, args: Mapping[str, str], is_copy: bool = False) -> str:
    """The S3 operation a request is, by AWS's names (e.g. GetObject, UploadPart)."""
    if not bucket:
        return "ListBuckets" if method == "GET" else "Unknown"
    if not key:
        if method == "GET":
            return next((op for sub, op in _S3_BUCKET_GETS if sub in args), "ListObjects")
        if method == "POST" and "delete" in args:
            return "DeleteObjects"
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(method, "Unknown")
    if "uploadId" in args:
        by_method = {"PUT": "UploadPart", "POST": "CompleteMultipartUpload", "DELETE": "AbortMultipartUpload",
                     "GET": "ListParts"}
        return by_method.get(method, "Unknown")
    if method == "POST" and "uploads" in args:
        return "CreateMultipartUpload"
    if method == "PUT":
        return "CopyObject" if is_copy else "PutObject"
    return {"GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(method, "Unknown")


def native_op(method: str, path: str) -> str:
    """The native API resource a request is for, e.g. "GET objects", "POST buckets"."""
    parts = path.split("/", 3)
    resource = parts[2] if len(parts) > 2 and parts[1] == "v1" else "other"
    if resource not in _NATIVE_RESOURCES:  # a label per made-up path would grow without bound
        resource = "other"
    return f"{method} {resource}"


def finish(req: Request, resp: Response, api: str, op: str, seconds: float) -> None:
    """What every answer gets on either path: the request's id, its metrics, and one log line
    for a write or an error."""
    resp.headers["x-amz-request-id"] = req.environ.get(REQUEST_ID, "")
    status = resp.status_code
    # A refused request's Content-Length is whatever the client claimed: count bodies taken.
    taken = (req.content_length or 0) if status < 400 else 0
    observe(api, op, status, seconds, taken, resp.content_length or 0)
    if status >= 400 or req.method not in _QUIET_METHODS:
        event(log, "request", method=req.method, path=req.path, query=req.query_string.decode("latin-1"),
              op=op, status=status, ms=round(seconds * 1000, 2))


# Each metric's child per label values, looked up once: prometheus_client's labels() validates
# and locks on every call, which showed in the profile of a small GET.
_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
_BYTES_IN = BYTES.labels("in")
_BYTES_OUT = BYTES.labels("out")


def observe(api: str, op: str, status: int, seconds: float, bytes_in: int, bytes_out: int) -> None:
    pair = _children.get((api, op, status))
    if pair is None:
        pair = _children[(api, op, status)] = (REQUESTS.labels(api, op, str(status)), SECONDS.labels(api, op))
    pair[0].inc()
    pair[1].observe(seconds)
    if bytes_in:
        _BYTES_IN.inc(bytes_in)
    if bytes_out:
        _BYTES_OUT.inc(bytes_out)
