"""google-cloud-storage's exceptions mapped to the mesh taxonomy: the one place the gcp adapter does it.

By type (google.api_core.exceptions carries the HTTP status as its class), never by message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests
from google.api_core import exceptions as gx
from google.auth import exceptions as ax
from google.resumable_media import common as rm

from aismesh.cmn import errors


def map_error(e: BaseException, where: str, obj: str = "") -> errors.AisError:
    if isinstance(e, gx.RetryError) and e.cause is not None:
        return map_error(e.cause, where, obj)
    if isinstance(e, rm.InvalidResponse):
        # resumable-media answers carry the response; its status decides.
        status = getattr(getattr(e, "response", None), "status_code", 0)
        return map_error(gx.from_http_status(int(status or 500), "resumable media"), where, obj)
    if isinstance(e, gx.NotFound):
        if not obj:
            return errors.BucketNotFound(f"gcp bucket {where} does not exist")
        return errors.ObjectNotFound(f"{where}/{obj} does not exist (gcp)", obj=obj)
    if isinstance(e, gx.Unauthorized):
        return errors.Unauthenticated(f"gcp refused the credentials for {where}: {e.code}")
    if isinstance(e, gx.Forbidden):
        return errors.AccessDenied(f"gcp denied access to {where}{'/' + obj if obj else ''}")
    if isinstance(e, gx.TooManyRequests):
        return errors.Throttled(f"gcp throttled requests to {where}")
    if isinstance(e, (gx.PreconditionFailed, gx.NotModified)):
        return errors.PreconditionFailed(f"{where}/{obj} changed on gcp", obj=obj)
    if isinstance(e, gx.RequestRangeNotSatisfiable):
        return errors.RangeNotSatisfiable(f"{where}/{obj}: range not satisfiable (gcp)")
    if isinstance(e, gx.MethodNotImplemented):
        return errors.NotImplemented(f"gcp ({where}) does not implement this")
    if isinstance(e, gx.Conflict):
        return errors.AlreadyExists(f"gcp: {where} already exists")
    if isinstance(e, gx.ClientError):
        return errors.InvalidArgument(f"gcp refused the request for {where}: {e.code} {type(e).__name__}")
    if isinstance(e, gx.GoogleAPIError):
        return errors.RemoteUnavailable(f"gcp is unavailable for {where}: {type(e).__name__}")
    if isinstance(e, (ax.DefaultCredentialsError, ax.RefreshError, ax.TransportError)):
        return errors.Unauthenticated(f"gcp: no usable credentials for {where}: {type(e).__name__}: {e}")
    if isinstance(e, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
        return errors.RemoteUnavailable(f"gcp endpoint for {where} is unreachable: {type(e).__name__}")
    if isinstance(e, rm.DataCorruption):
        return errors.RemoteUnavailable(f"gcp sent corrupt data for {where}/{obj}: checksum mismatch")
    if isinstance(e, OSError):  # a credentials file that cannot be read
        return errors.Unauthenticated(f"gcp: cannot read the credentials for {where}: {e}")
    return errors.Internal(f"gcp adapter failed for {where}: {type(e).__name__}: {e}")


@contextlib.contextmanager
def mapped(where: str, obj: str = "") -> Iterator[None]:
    """Run vendor calls; every google failure leaves as a mesh error naming bucket and provider."""
    try:
        yield
    except errors.AisError:
        raise
    except (gx.GoogleAPIError, ax.GoogleAuthError, rm.InvalidResponse, rm.DataCorruption,
            requests.RequestException, OSError) as e:
        raise map_error(e, where, obj) from None
