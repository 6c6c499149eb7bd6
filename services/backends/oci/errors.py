"""The oci SDK's exceptions mapped to the mesh taxonomy: the one place the oci adapter does it.

By type, then by the service error's status and code (HEAD answers carry no code), never by message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import requests
from oci import exceptions as ox

from aismesh.cmn import errors


def map_error(e: BaseException, where: str, obj: str = "") -> errors.AisError:
    if isinstance(e, ox.ServiceError):
        status, code = int(e.status or 0), str(e.code or "")
        if status == 404:
            if code == "BucketNotFound" or not obj:
                return errors.BucketNotFound(f"oci bucket {where} does not exist")
            return errors.ObjectNotFound(f"{where}/{obj} does not exist (oci)", obj=obj)
        if status == 401:
            return errors.Unauthenticated(f"oci refused the credentials for {where}: {code or status}")
        if status == 403:
            return errors.AccessDenied(f"oci denied access to {where}{'/' + obj if obj else ''}: {code or status}")
        if status == 412:
            return errors.PreconditionFailed(f"{where}/{obj} changed on oci", obj=obj)
        if status == 416:
            return errors.RangeNotSatisfiable(f"{where}/{obj}: range not satisfiable (oci)")
        if status == 429:
            return errors.Throttled(f"oci throttled requests to {where}")
        if status == 409:
            return errors.AlreadyExists(f"oci: {where}{'/' + obj if obj else ''} already exists ({code})")
        if status == 501:
            return errors.NotImplemented(f"oci ({where}) does not implement this: {code}")
        if 400 <= status < 500:
            return errors.InvalidArgument(f"oci refused the request for {where}: {code} ({status})")
        return errors.RemoteUnavailable(f"oci failed for {where}: {code} ({status})")
    if isinstance(e, ox.ClientError):  # ConfigFileNotFound, InvalidConfig, ProfileNotFound, InvalidPrivateKey, ...
        return errors.Unauthenticated(f"oci: no usable credentials for {where}: {type(e).__name__}: {e}")
    if isinstance(e, (ox.RequestException, ox.ConnectTimeout, requests.RequestException, OSError)):
        # the SDK's vendored requests errors are OSErrors too
        return errors.RemoteUnavailable(f"oci endpoint for {where} is unreachable: {type(e).__name__}")
    return errors.Internal(f"oci adapter failed for {where}: {type(e).__name__}: {e}")


@contextlib.contextmanager
def mapped(where: str, obj: str = "") -> Iterator[None]:
    """Run vendor calls; every oci failure leaves as a mesh error naming bucket and provider."""
    try:
        yield
    except errors.AisError:
        raise
    except (ox.ServiceError, ox.ClientError, ox.RequestException, ox.ConnectTimeout, requests.RequestException,
            OSError) as e:
        raise map_error(e, where, obj) from None
