"""The gateway's Prometheus metrics: requests by API, operation and status, latency, bytes.

gunicorn runs several worker processes, so these live in prometheus_client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``, set by ``__main__`` before any worker starts); the master serves
the sum of all workers on the metrics port.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import Counter, Histogram

from aismesh.cmn.metrics import LATENCY_BUCKETS

REQUESTS = Counter("aismesh_http_requests_total", "HTTP requests served, by API, operation and status",
                   ["api", "op", "status"])
SECONDS = Histogram("aismesh_http_request_duration_seconds", "Time to the response's first byte",
                    ["api", "op"], buckets=LATENCY_BUCKETS)
BYTES = Counter("aismesh_http_body_bytes_total", "Request and response body bytes (as declared)", ["direction"])

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
    return f"{method} {resource}"


def observe(api: str, op: str, status: int, seconds: float, bytes_in: int, bytes_out: int) -> None:
    REQUESTS.labels(api, op, str(status)).inc()
    SECONDS.labels(api, op).observe(seconds)
    if bytes_in:
        BYTES.labels("in").inc(bytes_in)
    if bytes_out:
        BYTES.labels("out").inc(bytes_out)
