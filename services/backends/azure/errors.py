"""azure-core's exceptions mapped to the mesh taxonomy: the one place the azure adapter does it.

By type, then by the storage error code (``x-ms-error-code``) and HTTP status, never by message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from azure.core import exceptions as az

from aismesh.cmn import errors

_UNAUTH = {"AuthenticationFailed", "InvalidAuthenticationInfo", "NoAuthenticationInformation"}
_THROTTLED = {"ServerBusy", "OperationTimedOut"}
_PRECONDITION = {"ConditionNotMet", "TargetConditionNotMet", "SourceConditionNotMet"}
_RANGE = {"InvalidRange"}
_BUCKET_GONE = {"ContainerNotFound", "ContainerBeingDeleted", "ContainerDisabled"}


def map_error(e: BaseException, where: str, obj: str = "") -> errors.AisError:
    raw = getattr(e, "error_code", None)  # a StorageErrorCode (a str enum) or the header's text
    code = str(getattr(raw, "value", raw) or "")
    status = int(getattr(getattr(e, "response", None), "status_code", 0) or getattr(e, "status_code", 0) or 0)
    if isinstance(e, az.ResourceNotFoundError) or status == 404:
        if code in _BUCKET_GONE or not obj:
            return errors.BucketNotFound(f"azure container {where} does not exist")
        return errors.ObjectNotFound(f"{where}/{obj} does not exist (azure)", obj=obj)
    if code in _UNAUTH or status == 401:
        return errors.Unauthenticated(f"azure refused the credentials for {where}: {code or status}")
    if isinstance(e, az.ClientAuthenticationError) or status == 403:
        return errors.AccessDenied(f"azure denied access to {where}{'/' + obj if obj else ''}: {code or status}")
    if isinstance(e, (az.ResourceModifiedError, az.ResourceNotModifiedError)) or code in _PRECONDITION \
            or status == 412:
        return errors.PreconditionFailed(f"{where}/{obj} changed on azure", obj=obj)
    if code in _RANGE or status == 416:
        return errors.RangeNotSatisfiable(f"{where}/{obj}: range not satisfiable (azure)")
    if code in _THROTTLED or status in (429, 503):
        return errors.Throttled(f"azure throttled requests to {where}: {code or status}")
    if isinstance(e, az.ResourceExistsError):
        return errors.AlreadyExists(f"azure: {where}{'/' + obj if obj else ''} already exists ({code})")
    if status == 501:
        return errors.NotImplemented(f"azure ({where}) does not implement this: {code}")
    if isinstance(e, (az.ServiceRequestError, az.ServiceResponseError)):
        return errors.RemoteUnavailable(f"azure endpoint for {where} is unreachable: {type(e).__name__}")
    if 400 <= status < 500:
        return errors.InvalidArgument(f"azure refused the request for {where}: {code} ({status})")
    return errors.RemoteUnavailable(f"azure failed for {where}: {type(e).__name__} {code} ({status})")


@contextlib.contextmanager
def mapped(where: str, obj: str = "") -> Iterator[None]:
    """Run vendor calls; every azure failure leaves as a mesh error naming container and provider."""
    try:
        yield
    except errors.AisError:
        raise
    except az.AzureError as e:
        raise map_error(e, where, obj) from None
