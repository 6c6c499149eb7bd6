"""The gcp and azure adapters' error maps, by type and code (no servers)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from azure.core import exceptions as az
from google.api_core import exceptions as gx
from google.auth import exceptions as ax

from aismesh.cmn import errors
from services.backends.azure.errors import map_error as azure_map
from services.backends.gcp.errors import map_error as gcp_map


@pytest.mark.parametrize(("exc", "obj", "want"), [
    (gx.NotFound("x"), "o", errors.ObjectNotFound),
    (gx.NotFound("x"), "", errors.BucketNotFound),
    (gx.Unauthorized("x"), "o", errors.Unauthenticated),
    (gx.Forbidden("x"), "o", errors.AccessDenied),
    (gx.TooManyRequests("x"), "o", errors.Throttled),
    (gx.PreconditionFailed("x"), "o", errors.PreconditionFailed),
    (gx.RequestRangeNotSatisfiable("x"), "o", errors.RangeNotSatisfiable),
    (gx.ServiceUnavailable("x"), "o", errors.RemoteUnavailable),
    (gx.BadRequest("x"), "o", errors.InvalidArgument),
    (gx.RetryError("gave up", requests.ConnectionError("refused")), "o", errors.RemoteUnavailable),
    (ax.DefaultCredentialsError("none"), "", errors.Unauthenticated),
    (requests.ReadTimeout("slow"), "o", errors.RemoteUnavailable),
])
def test_gcp_map(exc: BaseException, obj: str, want: type) -> None:
    e = gcp_map(exc, "gcp://b", obj)
    assert type(e) is want, e
    assert "gcp" in e.message and "b" in e.message


def _http(cls: Any, status: int, code: str) -> az.HttpResponseError:
    e = cls(message="m", response=None)
    e.status_code = status
    e.error_code = code
    return e


@pytest.mark.parametrize(("exc", "obj", "want"), [
    (_http(az.ResourceNotFoundError, 404, "BlobNotFound"), "o", errors.ObjectNotFound),
    (_http(az.ResourceNotFoundError, 404, "ContainerNotFound"), "o", errors.BucketNotFound),
    (_http(az.ClientAuthenticationError, 403, "AuthenticationFailed"), "o", errors.Unauthenticated),
    (_http(az.ClientAuthenticationError, 403, "AuthorizationFailure"), "o", errors.AccessDenied),
    (_http(az.ResourceModifiedError, 412, "ConditionNotMet"), "o", errors.PreconditionFailed),
    (_http(az.HttpResponseError, 416, "InvalidRange"), "o", errors.RangeNotSatisfiable),
    (_http(az.HttpResponseError, 503, "ServerBusy"), "o", errors.Throttled),
    (_http(az.HttpResponseError, 500, "InternalError"), "o", errors.RemoteUnavailable),
    (_http(az.HttpResponseError, 400, "InvalidQueryParameterValue"), "o", errors.InvalidArgument),
    (az.ServiceRequestError("refused"), "o", errors.RemoteUnavailable),
])
def test_azure_map(exc: BaseException, obj: str, want: type) -> None:
    e = azure_map(exc, "azure://b", obj)
    assert type(e) is want, e
    assert "azure" in e.message and "b" in e.message


@pytest.mark.parametrize(("status", "code", "obj", "want"), [
    (404, "ObjectNotFound", "o", errors.ObjectNotFound),
    (404, "BucketNotFound", "o", errors.BucketNotFound),
    (404, None, "", errors.BucketNotFound),          # HEAD: no body, no code
    (401, "NotAuthenticated", "o", errors.Unauthenticated),
    (403, "NotAuthorized", "o", errors.AccessDenied),
    (412, "IfMatchFailed", "o", errors.PreconditionFailed),
    (416, "InvalidRange", "o", errors.RangeNotSatisfiable),
    (429, "TooManyRequests", "o", errors.Throttled),
    (503, "ServiceUnavailable", "o", errors.RemoteUnavailable),
    (400, "InvalidParameter", "o", errors.InvalidArgument),
])
def test_oci_map(status: int, code: str | None, obj: str, want: type) -> None:
    ox = pytest.importorskip("oci.exceptions", reason="the oci SDK is optional")
    from services.backends.oci.errors import map_error as oci_map

    e = oci_map(ox.ServiceError(status, code, {}, "m"), "oci://b", obj)
    assert type(e) is want, e
    assert "oci" in e.message and "b" in e.message
