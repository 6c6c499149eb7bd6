"""The error taxonomy survives the trip through ErrorInfo."""

import pytest

from aismesh.cmn import errors
from aismesh.cmn.names import Bck


@pytest.mark.parametrize(("err", "status"), [
    (errors.BucketNotFound('bucket "ais://b" does not exist', bck=Bck("b").to_proto()), 404),
    (errors.ObjectNotFound("t[t1]: ais://b/o does not exist", obj="o"), 404),
    (errors.AlreadyExists('bucket "ais://b" already exists'), 409),
    (errors.InvalidArgument("bad", reason="bad-digest"), 400),
    (errors.RangeNotSatisfiable("no", object_size=10), 416),
    (errors.RemoteUnavailable("down"), 503),
    (errors.Conflict("not empty", reason="bucket-not-empty"), 409),
    (errors.Internal("boom"), 500),
])
def test_round_trip(err: errors.AisError, status: int) -> None:
    back = errors.from_info(err.to_info())
    assert type(back) is type(err)
    assert back.message == err.message
    assert back.reason == err.reason
    assert back.object_size == err.object_size
    assert back.http_status == status
