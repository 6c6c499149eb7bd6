"""Bucket identity and name rules."""

import pytest

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import (
    Bck,
    ais_bucket_name_error,
    check_object_name,
    normalize_provider,
    parse_namespace,
    s3_bucket_name_error,
)


@pytest.mark.parametrize("name", ["*", ".", "", " ", "bucket/badname", "bucket and name", "#badname", "$badname",
                                  "~badname", ".hidden", "a..b", "x" * 65])
def test_invalid_ais_names(name: str) -> None:
    assert ais_bucket_name_error(name)


@pytest.mark.parametrize("name", ["my-bucket_1.x", "A", "x" * 64])
def test_valid_ais_names(name: str) -> None:
    assert ais_bucket_name_error(name) == ""


@pytest.mark.parametrize("name", ["ab", "UPPER", "bad_name", "x" * 64, "192.168.1.1", "-ab", "ab-", "a..b", "a.-b"])
def test_invalid_s3_names(name: str) -> None:
    assert s3_bucket_name_error(name)


def test_valid_s3_name() -> None:
    assert s3_bucket_name_error("demo-bucket.1") == ""


@pytest.mark.parametrize(("alias", "canonical"), [("s3", "aws"), ("gs", "gcp"), ("az", "azure"), ("", "ais"),
                                                  ("AWS", "aws"), ("oc", "oci"), ("ht", "ht")])
def test_provider_aliases(alias: str, canonical: str) -> None:
    assert normalize_provider(alias) == canonical


def test_unknown_provider() -> None:
    with pytest.raises(InvalidArgument, match="nope"):
        normalize_provider("nope")


@pytest.mark.parametrize(("bck", "uname", "display"), [
    (Bck("b"), "ais/@#/b", "ais://b"),
    (Bck("b", provider="aws"), "aws/@#/b", "s3://b"),
    (Bck("b", ns_uuid="uuid", ns_name="ns"), "ais/@uuid#ns/b", "ais://@uuid#ns/b"),
    (Bck("b", ns_name="ns"), "ais/@#ns/b", "ais://#ns/b"),
])
def test_bck_forms(bck: Bck, uname: str, display: str) -> None:
    assert bck.uname == uname
    assert bck.display() == display
    assert Bck.from_uname(uname) == bck
    assert Bck.from_proto(bck.to_proto()) == bck
    assert bck.object_uname("o/x") == uname + "/o/x"


def test_parse_namespace() -> None:
    assert parse_namespace("@remais#") == ("remais", "")
    assert parse_namespace("@#ns") == ("", "ns")
    assert parse_namespace("uuid") == ("uuid", "")


def test_object_name_limits() -> None:
    check_object_name("k" * 1024)
    check_object_name("ü" * 512)
    for bad in ("", "k" * 1025, "ü" * 513):
        with pytest.raises(InvalidArgument):
            check_object_name(bad)


def test_too_long_object_name_has_its_reason() -> None:
    with pytest.raises(InvalidArgument) as e:
        check_object_name("k" * 1025)
    assert e.value.reason == "name-too-long"
