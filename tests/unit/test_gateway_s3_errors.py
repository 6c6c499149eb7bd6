"""Mesh errors to S3 codes: by type and reason, never by message text."""

import pytest

from aismesh.cmn import errors
from aismesh.cmn.names import check_object_name
from services.gateway.s3.errors import from_ais


def test_key_too_long_by_reason() -> None:
    with pytest.raises(errors.InvalidArgument) as e:
        check_object_name("k" * 1025)
    err = from_ais(e.value, "b", "k" * 1025)
    assert (err.code, err.status) == ("KeyTooLongError", 400)
    assert err.message.startswith("Your key is too long")


@pytest.mark.parametrize(("err", "code"), [
    (errors.InvalidArgument("aws-chunked chunk header is too long", reason="malformed-body"), "InvalidArgument"),
    (errors.InvalidArgument("a value that is too long"), "InvalidArgument"),
    (errors.InvalidArgument("body ended early", reason="incomplete-body"), "IncompleteBody"),
    (errors.InvalidArgument("body too large", reason="body-too-large"), "MaxMessageLengthExceeded"),
    (errors.InvalidArgument("bad", reason="bad-digest"), "BadDigest"),
])
def test_invalid_argument_by_reason(err: errors.AisError, code: str) -> None:
    mapped = from_ais(err, "b", "k")
    assert (mapped.code, mapped.status) == (code, 400)


def test_max_message_length_wording() -> None:
    mapped = from_ais(errors.InvalidArgument("more than 4194304 bytes", reason="body-too-large"), "b")
    assert mapped.message.startswith("Your request was too big.")
