"""Bucket props: the full AIS key set, its defaults, validation messages, CLI value parsing."""

from __future__ import annotations

import pytest

from aismesh.cmn import props
from aismesh.cmn.errors import InvalidArgument


def test_defaults_cover_every_section_and_validate() -> None:
    p = props.default_props("ais")
    props.validate(p)
    flat = props.flatten(p)
    for key in ("lru.batch_size", "ec.bundle_multiplier", "chunks.chunk_size", "rate_limit.frontend.burst_size",
                "write_policy.md", "backend_bck.namespace.uuid", "mirror.burst_buffer"):
        assert flat[key] == props.SCHEMA[key].default, key
    assert p["access"] == str(props.ACCESS_ALL) and p["features"] == "0"
    assert props.not_enforced(p) == []


@pytest.mark.parametrize(("partial", "words"), [
    ({"mirror": {"copies": 33}}, ['mirror.copies "33"', "[1, 32]"]),
    ({"lru": {"batch_size": 5}}, ["lru.batch_size", "[1024, 524288]"]),
    ({"lru": {"dont_evict_time": "10m"}}, ["lru.dont_evict_time", "at least 1h"]),
    ({"ec": {"compression": "sometimes"}}, ["ec.compression", "never, always"]),
    ({"write_policy": {"data": "delayed"}}, ["write_policy.data", "immediate"]),
    ({"write_policy": {"md": "later"}}, ["write_policy.md", "immediate, delayed, never"]),
    ({"chunks": {"chunk_size": "10GiB"}}, ["chunks.chunk_size", "[1KiB, 5GiB]"]),
    ({"rate_limit": {"backend": {"num_retries": 11}}}, ["rate_limit.backend.num_retries", "[1, 10]"]),
    ({"rate_limit": {"frontend": {"burst_size": 900}}}, ["burst_size", "half"]),
    ({"extra": {"aws": {"endpoint": "not a url"}}}, ["extra.aws.endpoint", "http(s) URL"]),
    ({"extra": {"aws": {"multipart_size": "1MiB"}}}, ["extra.aws.multipart_size", "5MiB"]),
    ({"features": "1"}, ["Enforce-IntraCluster-Access", "cannot be set on a bucket"]),
    ({"features": str((1 << 11) | (1 << 12))}, ["Disable-Cold-GET", "exclude"]),
    ({"mirror": {"enabled": True}, "chunks": {"objsize_limit": "1GiB"}}, ["mirror", "auto-chunking"]),
    ({"versioning": {"enabled": "yes"}}, ["versioning.enabled", "true or false"]),
    ({"access": "lots"}, ["access", "mask"]),
    ({"nosuch": 1}, ['unknown bucket property "nosuch"', "versioning"]),
    ({"lru": {"bogus": 1}}, ['"lru.bogus"', "lru.batch_size"]),
])
def test_validation_names_the_key_and_the_allowed_values(partial: dict, words: list[str]) -> None:
    with pytest.raises(InvalidArgument) as ei:
        props.validate(props.merge(props.default_props("ais"), partial))
    for w in words:
        assert w in ei.value.message


def test_valid_updates_pass_and_are_reported_not_enforced() -> None:
    p = props.merge(props.default_props("ais"), {
        "mirror": {"enabled": True, "copies": 3}, "lru": {"dont_evict_time": "3h"},
        "chunks": {"chunk_size": "64MiB"}, "extra": {"aws": {"multipart_size": -1}, "custom": "team=a"},
        "features": str(1 << 4), "checksum": {"type": "sha256"},
    })
    props.validate(p)
    assert props.not_enforced(p) == ["chunks.chunk_size", "extra.aws.multipart_size", "extra.custom", "features",
                                     "lru.dont_evict_time", "mirror.copies", "mirror.enabled"]


def test_with_defaults_fills_buckets_created_before_a_key_existed() -> None:
    old = {"provider": "ais", "checksum": {"type": "md5"}, "bid": "3"}
    full = props.with_defaults(old)
    assert full["checksum"]["type"] == "md5" and full["lru"]["batch_size"] == 32768 and full["bid"] == "3"


@pytest.mark.parametrize(("pairs", "expected"), [
    ({"mirror.enabled": "true", "mirror.copies": "3"}, {"mirror": {"enabled": True, "copies": 3}}),
    ({"access": "ro"}, {"access": str(props.ACCESS_NAMED["ro"])}),
    ({"access": "GET,PUT"}, {"access": "5"}),
    ({"features": "Fsync-PUT,Disable-Cold-GET"}, {"features": str((1 << 4) | (1 << 11))}),
    ({"features": "none"}, {"features": "0"}),
    ({"lru.dont_evict_time": "4h"}, {"lru": {"dont_evict_time": "4h"}}),
])
def test_cli_pairs_become_typed_partial_props(pairs: dict, expected: dict) -> None:
    assert props.partial_from_pairs(pairs) == expected


@pytest.mark.parametrize(("pairs", "words"), [
    ({"mirror.enabled": "maybe"}, "mirror.enabled"), ({"mirror.copies": "three"}, "mirror.copies"),
    ({"bid": "1"}, "read-only"), ({"nope.x": "1"}, "nope.x"), ({"access": "FLY"}, "access"),
])
def test_cli_pairs_refused(pairs: dict, words: str) -> None:
    with pytest.raises(InvalidArgument, match=words.replace(".", r"\.")):
        props.partial_from_pairs(pairs)


@pytest.mark.parametrize(("text", "seconds"), [("2h0m", 7200), ("10m0s", 600), ("1h30m", 5400), ("0", 0)])
def test_durations(text: str, seconds: float) -> None:
    assert props.duration_seconds(text) == seconds


@pytest.mark.parametrize(("value", "n"), [("1GiB", 1 << 30), ("5MiB", 5 << 20), (1024, 1024), ("-1", -1)])
def test_sizes(value: object, n: int) -> None:
    assert props.size_bytes(value) == n
