"""S3 error codes: the mesh taxonomy rendered as S3 XML with the status S3 uses."""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

from werkzeug.exceptions import HTTPException

from aismesh.cmn import errors


@dataclass
class S3Error(Exception):
    """An S3-dialect error: code, HTTP status, message, and the resource it concerns."""

    code: str
    status: int
    message: str
    resource: str = ""
    extra: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    @classmethod
    def internal(cls, err: Exception) -> S3Error:
        """An unexpected failure of ours (the caller logs it)."""
        return cls("InternalError", 500, f"We encountered an internal error: {err}")


def no_such_bucket(bucket: str) -> S3Error:
    return S3Error("NoSuchBucket", 404, "The specified bucket does not exist", f"/{bucket}",
                   (("BucketName", bucket),))


# Finer causes, by reason (ErrorInfo.reason from a node, or the gateway's own): (S3 code, status).
_BY_REASON = {
    "upload": ("NoSuchUpload", 404),
    "entity-too-small": ("EntityTooSmall", 400),
    "invalid-part": ("InvalidPart", 400),
    "bad-digest": ("BadDigest", 400),
    "incomplete-body": ("IncompleteBody", 400),
    "ambiguous": ("InvalidRequest", 400),
    "name-too-long": ("KeyTooLongError", 400),
    "body-too-large": ("MaxMessageLengthExceeded", 400),
    "content-sha256-mismatch": ("XAmzContentSHA256Mismatch", 400),
    "chunk-signature": ("SignatureDoesNotMatch", 403),
    "invalid-checksum": ("InvalidRequest", 400),
}
# Messages S3 words its own way for these codes; the mesh's message follows.
_PREFIX = {"KeyTooLongError": "Your key is too long: ", "MaxMessageLengthExceeded": "Your request was too big. "}


def from_ais(err: errors.AisError, bucket: str = "", key: str = "") -> S3Error:
    """Map a mesh error to the S3 code a client of S3 expects for it."""
    resource = f"/{bucket}/{key}" if key else (f"/{bucket}" if bucket else "/")
    coded = _BY_REASON.get(err.reason)
    if coded is not None:
        return S3Error(coded[0], coded[1], _PREFIX.get(coded[0], "") + err.message, resource)
    if isinstance(err, errors.BucketNotFound) or (isinstance(err, errors.NotFound) and not key):
        return no_such_bucket(bucket)
    if isinstance(err, errors.NotFound):
        return S3Error("NoSuchKey", 404, "The specified key does not exist.", resource,
                       (("Key", key),))
    if isinstance(err, errors.AlreadyExists):
        return S3Error("BucketAlreadyOwnedByYou", 409,
                       "Your previous request to create the named bucket succeeded and you already own it.",
                       resource, (("BucketName", bucket),))
    if isinstance(err, errors.Conflict) and err.reason == "bucket-not-empty":
        return S3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty", resource,
                       (("BucketName", bucket),))
    if isinstance(err, errors.RangeNotSatisfiable):
        extra = (("ActualObjectSize", str(err.object_size)),) if err.object_size else ()
        return S3Error("InvalidRange", 416, "The requested range is not satisfiable: " + err.message,
                       resource, extra)
    if isinstance(err, errors.InvalidArgument):
        return S3Error("InvalidArgument", 400, err.message, resource)
    if isinstance(err, errors.PreconditionFailed):
        return S3Error("PreconditionFailed", 412, err.message, resource)
    if isinstance(err, errors.AccessDenied):
        return S3Error("AccessDenied", 403, err.message, resource)
    if isinstance(err, errors.Conflict):
        return S3Error("OperationAborted", 409, err.message, resource)
    if isinstance(err, errors.Unauthenticated):
        return S3Error("AccessDenied", 403, err.message, resource)
    if isinstance(err, errors.Throttled):
        return S3Error("SlowDown", 503, err.message, resource)
    if isinstance(err, errors.NotImplemented):
        return S3Error("NotImplemented", 501, err.message, resource)
    if isinstance(err, errors.RemoteUnavailable):
        return S3Error("ServiceUnavailable", 503, err.message, resource)
    return S3Error("InternalError", 500, "We encountered an internal error: " + err.message, resource)


# The HTTP framework's own refusals (no route, body too large...) by status.
_HTTP_CODES = {404: "NoSuchKey", 405: "MethodNotAllowed", 411: "MissingContentLength", 413: "EntityTooLarge",
               501: "NotImplemented"}


def from_http(err: HTTPException) -> S3Error:
    status = err.code or 500
    code = _HTTP_CODES.get(status, "InvalidRequest" if status < 500 else "InternalError")
    return S3Error(code, status, err.description or err.name)


def render(err: S3Error, request_id: str) -> bytes:
    """The S3 XML error document."""
    extra = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in err.extra)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{err.code}</Code><Message>{escape(err.message)}</Message>"
        f"<Resource>{escape(err.resource)}</Resource>{extra}<RequestId>{request_id}</RequestId></Error>"
    ).encode()
