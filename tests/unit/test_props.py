"""Bucket props: defaults, partial nested merge, validation."""

import pytest

from aismesh.cmn import props
from aismesh.cmn.errors import InvalidArgument


def test_defaults() -> None:
    p = props.default_props("ais")
    assert p["provider"] == "ais"
    assert props.checksum_type(p) == "xxhash"
    assert props.is_versioned(p)


def test_merge_is_nested_partial_and_pure() -> None:
    base = props.default_props("ais")
    merged = props.merge(base, {"checksum": {"type": "md5"}})
    assert merged["checksum"]["type"] == "md5"
    assert merged["checksum"]["validate_warm_get"] is False
    assert base["checksum"]["type"] == "xxhash"


@pytest.mark.parametrize("key", ["provider", "bid", "created"])
def test_read_only_keys(key: str) -> None:
    with pytest.raises(InvalidArgument, match=key):
        props.merge(props.default_props("ais"), {key: "x"})


@pytest.mark.parametrize("partial", [{"checksum": {"type": "bogus"}}, {"versioning": {"enabled": "yes"}},
                                     {"access": "lots"}])
def test_validate_refuses(partial: dict) -> None:
    with pytest.raises(InvalidArgument):
        props.validate(props.merge(props.default_props("ais"), partial))


def test_cluster_defaults_apply() -> None:
    assert props.checksum_type(props.default_props("ais", {"checksum": {"type": "sha256"}})) == "sha256"
