"""botocore's exceptions mapped to the mesh taxonomy: the one place the aws adapter does it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from botocore import exceptions as bx

from aismesh.cmn import errors

_NOT_FOUND = {"NoSuchBucket", "NoSuchKey", "NotFound", "404", "NoSuchVersion"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "AccountProblem"}
_UNAUTH = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken", "TokenRefreshRequired",
           "401", "Unauthorized"}
_THROTTLED = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests", "429"}
_UNAVAILABLE = {"ServiceUnavailable", "503", "InternalError", "500", "RequestTimeout"}
_PRECONDITION = {"PreconditionFailed", "412"}
_RANGE = {"InvalidRange", "416"}
_NOT_IMPLEMENTED = {"NotImplemented", "501"}


def map_client_error(e: bx.ClientError, where: str, obj: str = "") -> errors.AisError:
    code = str(e.response.get("Error", {}).get("Code", ""))
    status = str(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    msg = str(e.response.get("Error", {}).get("Message", "")) or code
    for key in (code, status):
        if key in _NOT_FOUND:
            if code == "NoSuchBucket" or not obj:
                return errors.BucketNotFound(f"aws bucket {where} does not exist")
            return errors.ObjectNotFound(f"{where}/{obj} does not exist (aws)", obj=obj)
        if key in _UNAUTH:
            return errors.Unauthenticated(f"aws refused the credentials for {where}: {code}: {msg}")
        if key in _DENIED:
            return errors.AccessDenied(f"aws denied access to {where}{'/' + obj if obj else ''}: {msg}")
        if key in _THROTTLED:
            return errors.Throttled(f"aws throttled requests to {where}: {msg}")
        if key in _PRECONDITION:
            return errors.PreconditionFailed(f"{where}/{obj} changed on aws: {msg}", obj=obj)
        if key in _RANGE:
            return errors.RangeNotSatisfiable(f"{where}/{obj}: {msg}")
        if key in _NOT_IMPLEMENTED:
            return errors.NotImplemented(f"aws ({where}) does not implement this: {msg}")
        if key in _UNAVAILABLE:
            return errors.RemoteUnavailable(f"aws is unavailable for {where}: {msg}")
    if status.startswith("4"):
        return errors.InvalidArgument(f"aws refused the request for {where}: {code}: {msg}")
    return errors.RemoteUnavailable(f"aws failed for {where}: {code} ({status}): {msg}")


@contextlib.contextmanager
def mapped(where: str, obj: str = "") -> Iterator[None]:
    """Run vendor calls; every botocore failure leaves as a mesh error naming bucket and provider."""
    try:
        yield
    except errors.AisError:
        raise
    except bx.ClientError as e:
        raise map_client_error(e, where, obj) from None
    except (bx.NoCredentialsError, bx.PartialCredentialsError, bx.ProfileNotFound) as e:
        raise errors.Unauthenticated(f"aws: no usable credentials for {where}: {e}") from None
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError,
            bx.ConnectionClosedError, bx.ConnectionError) as e:
        raise errors.RemoteUnavailable(f"aws endpoint for {where} is unreachable: {e}") from None
    except bx.BotoCoreError as e:
        raise errors.RemoteUnavailable(f"aws failed for {where}: {e}") from None
