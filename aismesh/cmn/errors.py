"""The mesh's one error taxonomy, raised by every service and rendered at the edges.

    AisError                      (kind, http status)
    ├── NotFound                  NOT_FOUND, 404
    │   ├── BucketNotFound
    │   └── ObjectNotFound
    ├── AlreadyExists             ALREADY_EXISTS, 409
    ├── InvalidArgument           INVALID_ARGUMENT, 400
    ├── PreconditionFailed        PRECONDITION_FAILED, 412
    ├── RangeNotSatisfiable       RANGE_NOT_SATISFIABLE, 416
    ├── AccessDenied              ACCESS_DENIED, 403
    ├── RemoteUnavailable         REMOTE_UNAVAILABLE, 503 (retryable)
    ├── Conflict                  CONFLICT, 409 (e.g. reason "bucket-not-empty")
    ├── Unauthenticated           UNAUTHENTICATED, 401 (a backend refused the cluster's credentials)
    ├── Throttled                 THROTTLED, 503 (retryable: a backend asked to slow down)
    ├── NotImplemented            NOT_IMPLEMENTED, 501
    └── Internal                  INTERNAL, 500

Over gRPC an error travels as the matching status code plus a serialized ErrorInfo in the
trailing metadata key ``aismesh-error-bin``; ``to_grpc_abort`` and ``from_rpc_error`` are the
two halves of that trip. The S3 and native front ends map kinds (and reasons) to their dialect.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, ClassVar

import grpc

from aismesh.protos import types_pb2

ERROR_METADATA_KEY = "aismesh-error-bin"


class AisError(Exception):
    """Base of every error the mesh raises on purpose."""

    kind: ClassVar[types_pb2.ErrorKind] = types_pb2.INTERNAL
    http_status: ClassVar[int] = 500
    grpc_code: ClassVar[grpc.StatusCode] = grpc.StatusCode.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        reason: str = "",
        bck: types_pb2.Bck | None = None,
        obj: str = "",
        object_size: int = 0,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.bck = bck
        self.obj = obj
        self.object_size = object_size

    def to_info(self) -> types_pb2.ErrorInfo:
        info = types_pb2.ErrorInfo(
            kind=self.kind, message=self.message, reason=self.reason, object=self.obj,
            object_size=self.object_size,
        )
        if self.bck is not None:
            info.bck.CopyFrom(self.bck)
        return info


class NotFound(AisError):
    kind = types_pb2.NOT_FOUND
    http_status = 404
    grpc_code = grpc.StatusCode.NOT_FOUND


class BucketNotFound(NotFound):
    def __init__(self, message: str, **kw: object) -> None:
        kw.setdefault("reason", "bucket")
        super().__init__(message, **kw)  # type: ignore[arg-type]


class ObjectNotFound(NotFound):
    def __init__(self, message: str, **kw: object) -> None:
        kw.setdefault("reason", "object")
        super().__init__(message, **kw)  # type: ignore[arg-type]


class AlreadyExists(AisError):
    kind = types_pb2.ALREADY_EXISTS
    http_status = 409
    grpc_code = grpc.StatusCode.ALREADY_EXISTS


class InvalidArgument(AisError):
    kind = types_pb2.INVALID_ARGUMENT
    http_status = 400
    grpc_code = grpc.StatusCode.INVALID_ARGUMENT


class PreconditionFailed(AisError):
    kind = types_pb2.PRECONDITION_FAILED
    http_status = 412
    grpc_code = grpc.StatusCode.FAILED_PRECONDITION


class RangeNotSatisfiable(AisError):
    kind = types_pb2.RANGE_NOT_SATISFIABLE
    http_status = 416
    grpc_code = grpc.StatusCode.OUT_OF_RANGE


class AccessDenied(AisError):
    kind = types_pb2.ACCESS_DENIED
    http_status = 403
    grpc_code = grpc.StatusCode.PERMISSION_DENIED


class RemoteUnavailable(AisError):
    kind = types_pb2.REMOTE_UNAVAILABLE
    http_status = 503
    grpc_code = grpc.StatusCode.UNAVAILABLE


class Conflict(AisError):
    kind = types_pb2.CONFLICT
    http_status = 409
    grpc_code = grpc.StatusCode.ABORTED


class Unauthenticated(AisError):
    kind = types_pb2.UNAUTHENTICATED
    http_status = 401
    grpc_code = grpc.StatusCode.UNAUTHENTICATED


class Throttled(AisError):
    kind = types_pb2.THROTTLED
    http_status = 503
    grpc_code = grpc.StatusCode.RESOURCE_EXHAUSTED


class NotImplemented(AisError):
    kind = types_pb2.NOT_IMPLEMENTED
    http_status = 501
    grpc_code = grpc.StatusCode.UNIMPLEMENTED


class Internal(AisError):
    kind = types_pb2.INTERNAL
    http_status = 500
    grpc_code = grpc.StatusCode.INTERNAL


_BY_KIND: dict[int, type[AisError]] = {
    cls.kind: cls
    for cls in (NotFound, AlreadyExists, InvalidArgument, PreconditionFailed,
                RangeNotSatisfiable, AccessDenied, RemoteUnavailable, Conflict, Unauthenticated, Throttled,
                NotImplemented, Internal)
}


def from_info(info: types_pb2.ErrorInfo) -> AisError:
    """Rebuild the typed error a peer raised from its ErrorInfo."""
    cls: type[AisError] = _BY_KIND.get(info.kind, Internal)
    if cls is NotFound and info.reason == "bucket":
        cls = BucketNotFound
    elif cls is NotFound and info.reason == "object":
        cls = ObjectNotFound
    return cls(
        info.message, reason=info.reason, bck=info.bck if info.HasField("bck") else None,
        obj=info.object, object_size=info.object_size,
    )


def to_grpc_abort(context: grpc.ServicerContext, err: AisError) -> None:
    """Abort the current RPC with ``err``'s status code and structured details."""
    context.set_trailing_metadata(((ERROR_METADATA_KEY, err.to_info().SerializeToString()),))
    context.abort(err.grpc_code, err.message)


_UNAVAILABLE_CODES = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED,
}


def from_rpc_error(exc: grpc.RpcError, peer: str = "") -> AisError:
    """Translate a failed call into the mesh taxonomy; transport failures become RemoteUnavailable."""
    trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == ERROR_METADATA_KEY:
            info = types_pb2.ErrorInfo()
            info.ParseFromString(value)
            return from_info(info)
    code = exc.code() if hasattr(exc, "code") else None
    details = exc.details() if hasattr(exc, "details") else str(exc)
    where = f" ({peer})" if peer else ""
    if code in _UNAVAILABLE_CODES:
        return RemoteUnavailable(f"service unavailable{where}: {details}")
    return Internal(f"internal error{where}: {code}: {details}")


def servicer_guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a servicer method: mesh errors leave as status + ErrorInfo; anything else is
    logged and becomes Internal (unless the client already went away)."""

    @functools.wraps(fn)
    def wrapper(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return fn(self, request, context)
        except AisError as e:
            to_grpc_abort(context, e)
        except Exception as e:
            if not context.is_active():
                return None  # the client went away mid-stream: nothing to answer
            logging.getLogger(type(self).__module__).exception("%s failed", fn.__name__)
            to_grpc_abort(context, Internal(f"{fn.__name__}: {e}"))
        return None

    return wrapper
