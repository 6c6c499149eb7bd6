"""Remote buckets through the gateway: aws (moto server) and ht (nginx) behind their adapters.

One mesh for the module, started with ``--backends aws,ht`` and moto as the default endpoint;
buckets that need an emulator of their own (stopped, frozen) point at it with
``extra.aws.endpoint``, which also shows one cluster fronting several S3 services.
"""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import requests
from aistore.sdk import Client
from botocore.config import Config
from botocore.exceptions import ClientError

from services.storage.layout import SYS_DIR
from tests.conformance import emulators
from tests.integration.conftest import Mesh, running_mesh, wait_for


def moto_client(port: int) -> Any:
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 1}))


class World:
    def __init__(self, mesh: Mesh, moto_port: int, nginx_port: int, www: str, work: str) -> None:
        self.mesh = mesh
        # No retries: a test measures how fast one request fails.
        self.gw = boto3.client("s3", endpoint_url=mesh.s3, region_name="us-east-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing",
                               config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
        self.moto = moto_client(moto_port)
        self.nginx_port = nginx_port
        self.www = www
        self.work = work
        self.ais = Client(mesh.url)

    def native(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.mesh.url + path, timeout=30, **kw)

    def create(self, provider: str, name: str, props: dict[str, Any] | None = None) -> None:
        r = self.native("POST", f"/v1/buckets/{name}", params={"provider": provider},
                        json={"action": "create-bck", "value": props or {}})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = str(tmp_path_factory.mktemp("remote"))
    with emulators.moto(work) as m, emulators.nginx(work) as (ng, www):
        env = emulators.aws_env(m.port)
        with running_mesh(os.path.join(work, "mesh"), "--backends", "aws,ht", env=env) as mesh:
            yield World(mesh, m.port, ng.port, www, work)


def unique(stem: str) -> str:
    return f"{stem}-{os.urandom(3).hex()}"


def test_first_access_adds_the_bucket_then_cold_and_warm_get(world: World) -> None:
    name = unique("first")
    world.moto.create_bucket(Bucket=name)
    data = os.urandom(3 * (1 << 20) + 5)
    world.moto.put_object(Bucket=name, Key="dir/obj", Body=data)
    # Not in the BMD yet: S3 cannot name it; the native API's first access adds it.
    with pytest.raises(ClientError) as ei:
        world.gw.head_bucket(Bucket=name)
    assert ei.value.response["Error"]["Code"] in ("404", "NoSuchBucket")
    world.ais.bucket(name, provider="aws").head()
    assert name in [b.name for b in world.ais.cluster().list_buckets(provider="aws")]
    before = remote_gets(world.mesh)
    got = world.gw.get_object(Bucket=name, Key="dir/obj")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
    head = world.gw.head_object(Bucket=name, Key="dir/obj")
    assert head["ContentLength"] == len(data)
    # Warm: the same bytes again (the sdk reads through the native API).
    assert world.ais.bucket(name, provider="aws").object("dir/obj").get_reader().read_all() == data
    after = remote_gets(world.mesh)
    assert (after["cold"] - before["cold"], after["warm"] - before["warm"]) == (1, 1)


def remote_gets(mesh: Mesh) -> dict[str, float]:
    """The storage nodes' cold and warm GET counters, summed (their Prometheus metrics)."""
    total = {"cold": 0.0, "warm": 0.0}
    for svc in mesh.status()["services"]:
        if svc["kind"] != "storage":
            continue
        for line in requests.get(svc["metrics"], timeout=10).text.splitlines():
            for kind in total:
                if line.startswith(f'aismesh_remote_gets_total{{kind="{kind}"}}'):
                    total[kind] += float(line.rsplit(" ", 1)[1])
    return total


def test_unknown_remote_bucket_is_a_clear_not_found(world: World) -> None:
    r = world.native("HEAD", "/v1/buckets/no-such-remote-bucket", params={"provider": "aws"})
    assert r.status_code == 404


def test_cold_get_then_warm_get_with_the_emulator_stopped(world: World) -> None:
    name = unique("stopped")
    with emulators.moto(world.work) as own:
        c = moto_client(own.port)
        c.create_bucket(Bucket=name)
        c.put_object(Bucket=name, Key="k", Body=b"cached bytes")
        c.put_object(Bucket=name, Key="never-read", Body=b"x")
        world.create("aws", name, {"extra": {"aws": {"endpoint": f"http://127.0.0.1:{own.port}"}}})
        assert world.gw.get_object(Bucket=name, Key="k")["Body"].read() == b"cached bytes"
    # moto is gone: the cached object still reads, the other one fails fast naming the bucket.
    assert world.gw.get_object(Bucket=name, Key="k")["Body"].read() == b"cached bytes"
    t0 = time.monotonic()
    with pytest.raises(ClientError) as ei:
        world.gw.get_object(Bucket=name, Key="never-read")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert name in ei.value.response["Error"]["Message"]
    assert time.monotonic() - t0 < 10


def test_a_hanging_remote_fails_fast_and_cached_objects_still_read(world: World) -> None:
    name = unique("hang")
    with emulators.moto(world.work) as own:
        c = moto_client(own.port)
        c.create_bucket(Bucket=name)
        c.put_object(Bucket=name, Key="warm", Body=b"w")
        c.put_object(Bucket=name, Key="cold", Body=b"c")
        world.create("aws", name, {"extra": {"aws": {"endpoint": f"http://127.0.0.1:{own.port}"}}})
        assert world.gw.get_object(Bucket=name, Key="warm")["Body"].read() == b"w"
        own.freeze()
        try:
            t0 = time.monotonic()
            with pytest.raises(ClientError) as ei:
                world.gw.get_object(Bucket=name, Key="cold")
            assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert name in ei.value.response["Error"]["Message"]
            assert time.monotonic() - t0 < 10
            assert world.gw.get_object(Bucket=name, Key="warm")["Body"].read() == b"w"
        finally:
            own.thaw()


def test_warm_get_validation_after_the_remote_changed(world: World) -> None:
    name = unique("validate")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="v", Body=b"one")
    world.moto.put_object(Bucket=name, Key="gone", Body=b"bye")
    world.create("aws", name, {"versioning": {"validate_warm_get": True, "synchronize": True}})
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"one"
    assert world.gw.get_object(Bucket=name, Key="gone")["Body"].read() == b"bye"
    world.moto.put_object(Bucket=name, Key="v", Body=b"two, longer")
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"two, longer"
    world.moto.delete_object(Bucket=name, Key="gone")
    with pytest.raises(ClientError) as ei:
        world.gw.get_object(Bucket=name, Key="gone")
    assert ei.value.response["Error"]["Code"] == "NoSuchKey"


def test_without_validation_the_cached_copy_is_served(world: World) -> None:
    name = unique("novalidate")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="v", Body=b"one")
    world.create("aws", name)
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"one"
    world.moto.put_object(Bucket=name, Key="v", Body=b"two")
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"one"


def test_cold_range_read(world: World) -> None:
    name = unique("range")
    world.moto.create_bucket(Bucket=name)
    data = os.urandom(2 << 20)
    world.moto.put_object(Bucket=name, Key="r", Body=data)
    world.create("aws", name)
    got = world.gw.get_object(Bucket=name, Key="r", Range="bytes=100-199")["Body"].read()
    assert got == data[100:200]
    got = world.gw.get_object(Bucket=name, Key="r", Range="bytes=-10")["Body"].read()
    assert got == data[-10:]


def test_write_through_put_and_delete(world: World) -> None:
    name = unique("wt")
    world.moto.create_bucket(Bucket=name)
    world.create("aws", name)
    data = os.urandom(2 << 20)
    world.gw.put_object(Bucket=name, Key="w/obj", Body=data)
    assert world.moto.get_object(Bucket=name, Key="w/obj")["Body"].read() == data
    world.gw.put_object(Bucket=name, Key="small", Body=b"s")
    assert world.moto.get_object(Bucket=name, Key="small")["Body"].read() == b"s"
    assert world.gw.get_object(Bucket=name, Key="w/obj")["Body"].read() == data
    world.gw.delete_object(Bucket=name, Key="w/obj")
    with pytest.raises(ClientError):
        world.moto.head_object(Bucket=name, Key="w/obj")
    with pytest.raises(ClientError):
        world.gw.head_object(Bucket=name, Key="w/obj")


def test_listing_shows_remote_objects_marked_cached(world: World) -> None:
    name = unique("list")
    world.moto.create_bucket(Bucket=name)
    for k in ("a", "b", "c/d"):
        world.moto.put_object(Bucket=name, Key=k, Body=b"123")
    world.create("aws", name)
    world.gw.get_object(Bucket=name, Key="b")["Body"].read()
    keys = [o["Key"] for o in world.gw.list_objects_v2(Bucket=name)["Contents"]]
    assert keys == ["a", "b", "c/d"]
    rolled = world.gw.list_objects_v2(Bucket=name, Delimiter="/")
    assert [o["Key"] for o in rolled["Contents"]] == ["a", "b"]
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["c/"]
    pages = list(world.gw.get_paginator("list_objects_v2").paginate(Bucket=name, PaginationConfig={"PageSize": 1}))
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == ["a", "b", "c/d"]
    entries = {e.name: e for e in world.ais.bucket(name, provider="aws").list_all_objects()}
    assert set(entries) == {"a", "b", "c/d"}
    assert [n for n, e in sorted(entries.items()) if e.is_cached()] == ["b"]


def test_same_name_buckets_of_different_providers(world: World) -> None:
    name = unique("same")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="where", Body=b"aws")
    world.create("ais", name)
    world.create("aws", name)
    world.ais.bucket(name, provider="ais").object("where").get_writer().put_content(b"ais")
    assert world.ais.bucket(name, provider="ais").object("where").get_reader().read_all() == b"ais"
    assert world.ais.bucket(name, provider="aws").object("where").get_reader().read_all() == b"aws"
    with pytest.raises(ClientError) as ei:
        world.gw.get_object(Bucket=name, Key="where")
    msg = ei.value.response["Error"]["Message"]
    assert f"ais://{name}" in msg and f"s3://{name}" in msg


def test_ht_bucket_reads_and_lists_its_origin(world: World) -> None:
    top = unique("ds")
    os.makedirs(os.path.join(world.www, "json", top, "sub"))
    for rel, body in (("a.txt", b"alpha"), ("sub/b.txt", b"beta")):
        with open(os.path.join(world.www, "json", top, rel), "wb") as f:
            f.write(body)
    name = unique("ht")
    world.create("ht", name, {"extra": {"http": {"original_url": f"http://127.0.0.1:{world.nginx_port}/json/{top}/"}}})
    # The aistore SDK has no "ht" provider: the native API over plain HTTP.
    for obj, body in (("a.txt", b"alpha"), ("sub/b.txt", b"beta")):
        r = world.native("GET", f"/v1/objects/{name}/{obj}", params={"provider": "ht"})
        assert r.status_code == 200 and r.content == body
    r = world.native("GET", f"/v1/objects/{name}/a.txt", params={"provider": "ht"}, headers={"Range": "bytes=1-3"})
    assert r.status_code == 206 and r.content == b"lph"
    r = world.native("GET", f"/v1/buckets/{name}", params={"provider": "ht"}, json={"action": "list", "value": {}})
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert sorted(e["name"] for e in entries) == ["a.txt", "sub/b.txt"]
    # Read twice, so cached now (the flags' bit 6).
    assert all(e["flags"] & (1 << 6) for e in entries)
    r = world.native("PUT", f"/v1/objects/{name}/new", params={"provider": "ht"}, data=b"x")
    assert r.status_code == 501, r.text


def test_remote_bucket_evict_keeps_the_remote(world: World) -> None:
    name = unique("evict")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="e", Body=b"data")
    world.create("aws", name)
    assert world.gw.get_object(Bucket=name, Key="e")["Body"].read() == b"data"
    world.ais.bucket(name, provider="aws").evict(keep_md=False)
    assert world.moto.get_object(Bucket=name, Key="e")["Body"].read() == b"data"
    assert name not in [b.name for b in world.ais.cluster().list_buckets(provider="aws")]


def _list(world: World, provider: str, name: str, flags: int = 0) -> requests.Response:
    return world.native("GET", f"/v1/buckets/{name}", params={"provider": provider},
                        json={"action": "list", "value": {"flags": str(flags)}})


def _cached(world: World, name: str) -> list[str]:
    r = _list(world, "aws", name, flags=1)  # LsCached: only what the cluster holds
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"])


def test_evict_and_prefetch_by_list_and_prefix(world: World) -> None:
    name = unique("pf")
    world.moto.create_bucket(Bucket=name)
    for k in ("p/1", "p/2", "q/3"):
        world.moto.put_object(Bucket=name, Key=k, Body=k.encode())
    world.create("aws", name)
    b = world.ais.bucket(name, provider="aws")
    assert _cached(world, name) == []
    world.ais.job(b.objects(obj_names=["q/3"]).prefetch()).wait(timeout=30)
    assert _cached(world, name) == ["q/3"]
    world.ais.job(b.objects(obj_template="p/").prefetch()).wait(timeout=30)
    assert _cached(world, name) == ["p/1", "p/2", "q/3"]
    world.ais.job(b.objects(obj_names=["p/1"]).evict()).wait(timeout=30)
    assert _cached(world, name) == ["p/2", "q/3"]
    world.ais.job(b.objects(obj_template="q/").evict()).wait(timeout=30)
    assert _cached(world, name) == ["p/2"]
    # Evict the whole bucket but keep its metadata: nothing cached, the bucket stays.
    b.evict(keep_md=True)
    assert _cached(world, name) == []
    assert name in [x.name for x in world.ais.cluster().list_buckets(provider="aws")]
    # The remote kept everything; a read is a cold GET again.
    assert world.gw.get_object(Bucket=name, Key="p/1")["Body"].read() == b"p/1"


def test_first_access_list_flags(world: World) -> None:
    name = unique("flags")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="o", Body=b"x")
    in_bmd = lambda: name in [x.name for x in world.ais.cluster().list_buckets(provider="aws")]  # noqa: E731
    # LsBckPresent: not in the BMD, so not found, and nothing added.
    assert _list(world, "aws", name, flags=1 << 6).status_code == 404
    assert not in_bmd()
    # LsDontAddRemote: listed through the adapter, not added.
    r = _list(world, "aws", name, flags=1 << 8)
    assert r.status_code == 200 and [e["name"] for e in r.json()["entries"]] == ["o"]
    assert not in_bmd()
    # LsDontHeadRemote: added without asking the remote first.
    r = _list(world, "aws", name, flags=1 << 7)
    assert r.status_code == 200 and [e["name"] for e in r.json()["entries"]] == ["o"]
    assert in_bmd()


def test_not_cached_listing_flag(world: World) -> None:
    name = unique("notcached")
    world.moto.create_bucket(Bucket=name)
    for k in ("a", "b"):
        world.moto.put_object(Bucket=name, Key=k, Body=b"x")
    world.create("aws", name)
    world.gw.get_object(Bucket=name, Key="a")["Body"].read()
    r = _list(world, "aws", name, flags=1 << 9)  # LsNotCached
    assert [e["name"] for e in r.json()["entries"]] == ["b"]


def test_latest_flag_revalidates_one_read(world: World) -> None:
    name = unique("latest")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="v", Body=b"one")
    world.create("aws", name)
    obj = world.ais.bucket(name, provider="aws").object("v")
    assert obj.get_reader().read_all() == b"one"
    world.moto.put_object(Bucket=name, Key="v", Body=b"two")
    assert obj.get_reader().read_all() == b"one"  # no validation by props: the cached copy
    assert obj.get_reader(latest=True).read_all() == b"two"
    assert obj.get_reader().read_all() == b"two"  # and the cache now holds the new version


def test_multipart_upload_writes_through_on_completion(world: World) -> None:
    import io

    from boto3.s3.transfer import TransferConfig

    name = unique("mpu")
    world.moto.create_bucket(Bucket=name)
    world.create("aws", name)
    data = os.urandom(11 << 20)
    cfg = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20, use_threads=False)
    world.gw.upload_fileobj(io.BytesIO(data), name, "big", Config=cfg)
    assert world.gw.head_object(Bucket=name, Key="big")["ETag"].strip('"').endswith("-3")
    got = world.moto.get_object(Bucket=name, Key="big")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()


def test_a_provider_without_a_running_adapter_is_named(world: World) -> None:
    r = world.native("HEAD", "/v1/buckets/anything", params={"provider": "gcp"})
    assert r.status_code == 503
    r = world.native("GET", "/v1/buckets/anything", params={"provider": "gcp"}, json={"action": "list", "value": {}})
    msg = r.json()["message"]
    assert r.status_code == 503 and '"gcp"' in msg and "adapters running: aws, ht" in msg


def test_concurrent_cold_gets_of_one_object_fetch_it_once(world: World) -> None:
    name = unique("once")
    world.moto.create_bucket(Bucket=name)
    data = os.urandom(6 * (1 << 20))
    world.moto.put_object(Bucket=name, Key="big", Body=data)
    world.create("aws", name)
    before = remote_gets(world.mesh)
    with ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(lambda _: world.gw.get_object(Bucket=name, Key="big")["Body"].read(), range(8)))
    assert all(b == data for b in bodies)
    after = remote_gets(world.mesh)
    # one fetch from the remote; the others waited for it and read the cached copy
    assert (after["cold"] - before["cold"], after["warm"] - before["warm"]) == (1, 7)


def test_listing_buckets_outside_the_cluster(world: World) -> None:
    inside, outside = unique("inside"), unique("outside")
    world.moto.create_bucket(Bucket=inside)
    world.moto.create_bucket(Bucket=outside)
    world.create("aws", inside)

    def names(presence: str | None) -> set[str]:
        params = {"provider": "aws", **({"presence": presence} if presence is not None else {})}
        r = world.native("GET", "/v1/buckets", params=params)
        assert r.status_code == 200, r.text
        assert all(b["provider"] == "aws" for b in r.json())
        return {b["name"] for b in r.json()}

    assert inside in names(None) and outside not in names(None)  # default: present in the cluster
    assert {inside, outside} <= names("0")                         # exists: the account's buckets too
    got = names("4")                                               # outside the cluster only
    assert outside in got and inside not in got
    # the ais CLI: `ais ls s3:` shows what the cluster holds, `--all` the account's buckets too
    from tests.integration.test_cli import ais
    shown = ais(world.mesh, "ls", "s3:").stdout.decode()
    assert f"s3://{inside}" in shown and f"s3://{outside}" not in shown
    shown = ais(world.mesh, "ls", "s3:", "--all").stdout.decode()
    assert f"s3://{inside}" in shown and f"s3://{outside}" in shown
    r = world.native("GET", "/v1/buckets", params={"provider": "aws", "presence": "9"})
    assert r.status_code == 400 and "presence" in r.json()["message"]
    r = world.native("GET", "/v1/buckets", params={"provider": "ais", "presence": "0"})
    assert r.status_code == 400 and "cloud provider" in r.json()["message"]


def test_head_says_whether_a_remote_object_is_present_in_the_cluster(world: World) -> None:
    name = unique("present")
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="p", Body=b"payload")
    world.create("aws", name)
    obj = world.ais.bucket(name, provider="aws").object("p")
    assert obj.head().present is False  # the remote has it; the cluster does not yet
    assert obj.get_reader().read_all() == b"payload"
    assert obj.head().present is True


def _node_sum(mesh: Mesh, prefix: str, label: str = "") -> float:
    """A counter of the storage nodes' Prometheus metrics, summed over nodes (lines that start
    with ``prefix`` and contain ``label``)."""
    total = 0.0
    for svc in mesh.status()["services"]:
        if svc["kind"] == "storage":
            for line in requests.get(svc["metrics"], timeout=10).text.splitlines():
                if line.startswith(prefix) and label in line:
                    total += float(line.rsplit(" ", 1)[1])
    return total


def _node_bytes_out(mesh: Mesh) -> float:
    """Bytes the storage nodes have sent in gRPC answers."""
    return _node_sum(mesh, "aismesh_rpc_object_bytes_total{", 'direction="out"')


def _cold_fills(mesh: Mesh) -> tuple[float, float]:
    """Objects cached from a backend: (written into the node's file by the adapter, streamed)."""
    return (_node_sum(mesh, 'aismesh_cold_fills_total{via="file"}'),
            _node_sum(mesh, 'aismesh_cold_fills_total{via="stream"}'))


def _cold_get_bytes_out(world: World, name: str, key: str, data: bytes) -> float:
    world.moto.put_object(Bucket=name, Key=key, Body=data)
    before = _node_bytes_out(world.mesh)
    assert world.gw.get_object(Bucket=name, Key=key)["Body"].read() == data
    return _node_bytes_out(world.mesh) - before


def test_a_cold_get_is_served_from_the_cache_unless_streaming_cold_get(world: World) -> None:
    """AIStore's default: the node caches the whole object, then it is read from the cache (here
    by the same-host fast path, so its bytes never cross gRPC); Streaming-Cold-GET streams them."""
    name = unique("coldpath")
    world.moto.create_bucket(Bucket=name)
    world.create("aws", name)
    data = os.urandom(3 << 20)
    fills = _cold_fills(world.mesh)
    assert _cold_get_bytes_out(world, name, "cached-first", data) < len(data) / 4
    # The aws adapter runs on the node's host: it wrote the bytes into the node's work file.
    after = _cold_fills(world.mesh)
    assert (after[0] - fills[0], after[1] - fills[1]) == (1, 0)
    assert world.gw.get_object(Bucket=name, Key="cached-first")["Body"].read() == data  # warm, from that file
    features = {"action": "set-config", "value": {"features": "Streaming-Cold-GET"}}
    assert world.native("PUT", "/v1/cluster", json=features).status_code == 200
    try:
        keys = iter(range(1000))
        # each gateway worker picks the flag up from its config watch: until one has, GETs cache first
        wait_for("a cold GET streamed through gRPC",
                 lambda: _cold_get_bytes_out(world, name, f"streamed-{next(keys)}", data) >= len(data))
        assert _cold_fills(world.mesh)[1] > after[1]  # the node wrote what it streamed
    finally:
        assert world.native("PUT", "/v1/cluster", json={"action": "set-config", "value": {"features": "0"}}
                            ).status_code == 200


def _work_files(mesh: Mesh) -> list[str]:
    """The nodes' work files: writes and cold GETs not yet committed."""
    return glob.glob(os.path.join(mesh.data, "targets", "*", "*", SYS_DIR, "work", "*"))


def test_an_adapter_frozen_while_it_writes_into_the_node_leaves_nothing_cached(world: World) -> None:
    """The same-host adapter writes a cold GET into the node's work file: frozen mid-object
    (SIGSTOP), the GET fails within the stall bound, the half-written file is dropped, and once
    thawed (it then finishes writing into a file no longer there) the object reads whole."""
    name = unique("frozenadapter")
    world.moto.create_bucket(Bucket=name)
    data = os.urandom(256 << 20)
    world.moto.put_object(Bucket=name, Key="big", Body=data)
    world.create("aws", name)
    assert not _work_files(world.mesh)
    fills = _cold_fills(world.mesh)
    adapter = world.mesh.pid("backend-aws")
    with ThreadPoolExecutor(1) as pool:
        def get() -> tuple[int, int]:
            r = requests.get(f"{world.mesh.s3}/{name}/big", timeout=120)
            return r.status_code, len(r.content)
        pending = pool.submit(get)
        wait_for("the adapter writing into the node's work file",
                 lambda: any(os.path.getsize(p) > 0 for p in _work_files(world.mesh)), 60)
        os.kill(adapter, signal.SIGSTOP)
        try:
            status, got = pending.result(timeout=60)
            assert (status, got) != (200, len(data))
            assert status == 503, status
            wait_for("the half-written work file dropped", lambda: not _work_files(world.mesh))
            assert _cold_fills(world.mesh) == fills
        finally:
            os.kill(adapter, signal.SIGCONT)
    assert world.ais.bucket(name, provider="aws").object("big").head().present is False  # not in the cluster
    assert world.gw.get_object(Bucket=name, Key="big")["Body"].read() == data
    assert not _work_files(world.mesh)
