"""Feature flags by name or mask, and the cluster config changes that carry them and the S3 keys."""

from __future__ import annotations

import pytest

from aismesh.cmn import features
from aismesh.cmn.errors import InvalidArgument
from services.metadata import docs


def test_parse_names_and_masks() -> None:
    assert features.parse("S3-API-via-Root") == features.S3_API_VIA_ROOT == 8
    assert features.parse("s3-api-via-root, Fsync-PUT") == 8 | 16
    assert features.parse("8") == features.parse(8) == 8
    assert features.parse("none") == 0
    assert features.names(24) == ["S3-API-via-Root", "Fsync-PUT"]
    for bad in ("No-Such-Flag", str(1 << 64), True, 1.5):
        with pytest.raises(InvalidArgument):
            features.parse(bad)


def test_set_config_features_and_keys() -> None:
    cfg = docs.seal(docs.new_config())
    on = docs.set_config(cfg, {"features": "S3-API-via-Root"})
    assert on["features"] == "8" and on["version"] == cfg["version"] + 1
    assert docs.set_config(on, {"features": 8}) is on  # nothing changes: nothing is written
    keyed = docs.set_config(on, {"s3_auth": {"access_key": "AK", "secret_key": "SK"}})
    assert keyed["s3_auth"] == {"access_key": "AK", "secret_key": "SK"}
    cleared = docs.set_config(keyed, {"s3_auth": {"access_key": "", "secret_key": ""}})
    assert cleared["s3_auth"] == {"access_key": "", "secret_key": ""}
    for bad in ({"access_key": "AK"}, {"access_key": "A/K", "secret_key": "S"}, {"other": 1}, "AK:SK"):
        with pytest.raises(InvalidArgument):
            docs.set_config(on, {"s3_auth": bad})


def test_start_config_adds_what_was_asked() -> None:
    cfg = docs.set_config(docs.seal(docs.new_config()), {"features": "16"})
    assert docs.start_config(cfg) is cfg
    started = docs.start_config(cfg, "AK", "SK", s3_at_root=True)
    assert started["features"] == "24" and started["s3_auth"]["access_key"] == "AK"
    assert docs.start_config(started, "AK", "SK", s3_at_root=True) is started  # a restart changes nothing


def test_gateway_view_of_the_config() -> None:
    import json

    from aismesh.protos import metadata_pb2
    from services.gateway.clusterconf import conf_of

    doc = {"version": 3, "features": "8", "s3_auth": {"access_key": "AK", "secret_key": "SK"}}
    conf = conf_of(metadata_pb2.Config(version=3, json=json.dumps(doc)))
    assert conf.is_s3_at_root and conf.s3_keys == {"AK": "SK"} and conf.version == 3
    off = conf_of(metadata_pb2.Config(version=4, json=json.dumps({"features": "0", "s3_auth": {
        "access_key": "", "secret_key": ""}})))
    assert not off.is_s3_at_root and off.s3_keys == {}
    assert conf_of(metadata_pb2.Config(version=1, json="")).s3_keys == {}
