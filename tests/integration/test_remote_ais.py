"""Remote AIS clusters' buckets (ais://@alias/b): meshes on loopback, each with its own etcd,
driven through the aistore SDK, the ais CLI and plain HTTP.

``here`` attaches ``there`` as "remb" at start (``aismesh up --remote``). ``there`` also runs the
aws adapter against moto, so ``s3://@remb/...`` reaches a cloud bucket whose credentials only
``there`` has (the seed's "accessing Cloud storage via remote AIS" example).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from aistore.sdk import Client
from aistore.sdk.types import Namespace

from tests.conformance.emulators import aws_env, moto
from tests.integration.conftest import Mesh, free_port, running_mesh, wait_for

pytestmark = pytest.mark.integration
AIS = os.path.join(os.path.dirname(sys.executable), "ais")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with moto(str(tmp_path_factory.mktemp("moto"))) as m:
        yield m


@pytest.fixture(scope="module")
def there(tmp_path_factory: pytest.TempPathFactory, cloud: Any) -> Iterator[Mesh]:
    with running_mesh(str(tmp_path_factory.mktemp("there")), "--targets", "1", "--backends", "aws,ais",
                      env=aws_env(cloud.port)) as m:
        yield m


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory, there: Mesh) -> Iterator[Mesh]:
    # No cloud credentials here at all: whatever reaches moto goes through `there`.
    env = {k: "" for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    # Two URLs, the first never answers: the adapter moves on to the second and stays there.
    dead = f"http://127.0.0.1:{free_port()}"
    with running_mesh(str(tmp_path_factory.mktemp("here")), "--targets", "2", "--remote",
                      f"remb={dead},{there.url}", env=env) as m:
        yield m


def ais(mesh: Mesh, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIS, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, AIS_ENDPOINT=mesh.url))


def uuid_of(mesh: Mesh) -> str:
    return str(requests.get(f"{mesh.url}/v1/daemon", params={"what": "smap"}, timeout=10).json()["uuid"])


def names(bucket: Any, **kw: Any) -> list[str]:
    return [e.name for e in bucket.list_all_objects(**kw)]


def test_sdk_reads_writes_and_caches_a_remote_clusters_bucket(here: Mesh, there: Mesh) -> None:
    origin = Client(there.url).bucket("rb1")
    origin.create(exist_ok=True)
    for i in range(3):
        origin.object(f"d/o{i}").get_writer().put_content(f"payload-{i}".encode() * 1000)
    via = Client(here.url).bucket("rb1", namespace=Namespace(uuid="remb"))
    assert names(via) == ["d/o0", "d/o1", "d/o2"]
    listed = via.list_objects().entries
    assert not any(e.is_cached() for e in listed)  # nothing cached here yet

    assert via.object("d/o1").get_reader().read_all() == b"payload-1" * 1000  # cold GET
    cached = {e.name: e.is_cached() for e in via.list_objects().entries}
    assert cached == {"d/o0": False, "d/o1": True, "d/o2": False}
    assert via.object("d/o1").get_reader(byte_range="bytes=0-8").read_all() == b"payload-1"  # warm, ranged

    # The same bucket by the remote's UUID: the same objects and the same cache.
    by_uuid = Client(here.url).bucket("rb1", namespace=Namespace(uuid=uuid_of(there)))
    assert {e.name: e.is_cached() for e in by_uuid.list_objects().entries} == cached

    # Write-through: a PUT here lands there; a DELETE here is gone there.
    big = os.urandom(3 << 20)
    via.object("new/big").get_writer().put_content(big)
    assert origin.object("new/big").get_reader().read_all() == big
    assert via.object("new/big").get_reader().read_all() == big
    via.object("d/o0").delete()
    assert names(origin) == ["d/o1", "d/o2", "new/big"]
    assert names(via) == ["d/o1", "d/o2", "new/big"]


def test_create_and_destroy_are_forwarded(here: Mesh, there: Mesh) -> None:
    via = Client(here.url).bucket("made-here", namespace=Namespace(uuid="remb"))
    via.create()
    assert "made-here" in [b.name for b in Client(there.url).cluster().list_buckets()]
    head = requests.head(f"{here.url}/v1/buckets/made-here", params={"provider": "ais", "namespace": "@remb#"},
                         timeout=30)
    assert head.status_code == 200
    assert head.headers["Ais-Remote-Ais-Alias"] == "remb" and head.headers["Ais-Remote-Ais-Uuid"] == uuid_of(there)
    via.object("x").get_writer().put_content(b"x")
    assert Client(there.url).bucket("made-here").object("x").get_reader().read_all() == b"x"
    via.delete()
    assert "made-here" not in [b.name for b in Client(there.url).cluster().list_buckets()]


def test_ls_at_lists_the_buckets_of_every_remote(here: Mesh, there: Mesh) -> None:
    Client(there.url).bucket("listed-there").create(exist_ok=True)
    r = requests.get(f"{here.url}/v1/buckets", params={"provider": "ais", "namespace": "@@#"}, timeout=30)
    assert r.status_code == 200, r.text
    assert {"name": "listed-there", "provider": "ais", "namespace": {"uuid": "remb", "name": ""}} in r.json()
    done = ais(here, "ls", "ais://@")
    assert done.returncode == 0, done.stderr
    assert "ais://@remb/listed-there" in done.stdout.split()
    one = ais(here, "ls", "ais://@remb")
    assert one.returncode == 0 and "ais://@remb/listed-there" in one.stdout.split()


def test_cli_put_get_ls_through_the_alias(here: Mesh, there: Mesh, tmp_path: Any) -> None:
    Client(there.url).bucket("clib").create(exist_ok=True)
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello remote" * 100)
    put = ais(here, "put", str(src), "ais://@remb/clib/dir/file.bin")
    assert put.returncode == 0, put.stderr
    listed = ais(here, "ls", "ais://@remb/clib")
    assert listed.returncode == 0, listed.stderr
    assert "dir/file.bin" in listed.stdout
    dst = tmp_path / "dst.bin"
    got = ais(here, "get", "ais://@remb/clib/dir/file.bin", str(dst))
    assert got.returncode == 0, got.stderr
    assert dst.read_bytes() == src.read_bytes()
    assert Client(there.url).bucket("clib").object("dir/file.bin").get_reader().read_all() == src.read_bytes()
    missing = ais(here, "get", "ais://@remb/clib/nope", str(dst))
    assert missing.returncode != 0 and "nope" in missing.stderr
    via = Client(here.url).bucket("clib", namespace=Namespace(uuid="remb"))
    assert [e.is_cached() for e in via.list_objects().entries] == [True]
    evicted = ais(here, "bucket", "evict", "ais://@remb/clib", "--keep-md")
    assert evicted.returncode == 0, evicted.stderr
    assert [e.is_cached() for e in via.list_objects().entries] == [False]  # the remote keeps it
    assert via.object("dir/file.bin").get_reader().read_all() == src.read_bytes()


def test_seed_example_cloud_bucket_through_the_remote(here: Mesh, there: Mesh, cloud: Any) -> None:
    s3 = boto3.client("s3", endpoint_url=f"http://{cloud.addr}", region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    s3.create_bucket(Bucket="data")
    keys = ["aaa/bbb/ccc", "aaa/bbb/eee", "aaa/ddd", "aaabbb", "bbb/111", "ttt/hhh"]
    for k in keys:
        s3.put_object(Bucket="data", Key=k, Body=b"z" * 1000)

    # Step 1: the remote cluster, as this one sees it.
    shown = ais(here, "show", "remote-cluster")
    assert shown.returncode == 0, shown.stderr
    row = next(line.split() for line in shown.stdout.splitlines() if "remb" in line)
    assert row[0] == uuid_of(there) and row[-1] == "yes"
    # Step 2: s3://data directly on the remote cluster (it has the credentials).
    direct = ais(there, "ls", "s3://data")
    assert direct.returncode == 0, direct.stderr
    assert [line.split()[0] for line in direct.stdout.splitlines()[1:]] == keys
    # ... and through it from here (no credentials here): s3://@remb/data.
    through = ais(here, "ls", "s3://@remb/data")
    assert through.returncode == 0, through.stderr
    assert [line.split()[0] for line in through.stdout.splitlines()[1:]] == keys
    # Step 3: ais://nnn fronts s3://data via the remote cluster.
    assert ais(here, "bucket", "create", "ais://nnn").returncode == 0
    done = ais(here, "bucket", "props", "set", "ais://nnn", "backend_bck=s3://@remb/data")
    assert done.returncode == 0, done.stderr
    assert '"backend_bck.name" set to: "data" (was: "")' in done.stdout
    assert '"backend_bck.provider" set to: "aws" (was: "")' in done.stdout
    assert "Bucket props successfully updated." in done.stdout
    # Step 4: list s3://data via the local ais://nnn.
    listed = ais(here, "ls", "ais://nnn")
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == keys

    # GET caches under ais://nnn; PUT and DELETE go to the cloud bucket.
    nnn = Client(here.url).bucket("nnn")
    assert nnn.object("aaa/ddd").get_reader().read_all() == b"z" * 1000
    nnn.object("written/here").get_writer().put_content(b"through two clusters")
    assert s3.get_object(Bucket="data", Key="written/here")["Body"].read() == b"through two clusters"
    nnn.object("ttt/hhh").delete()
    assert "ttt/hhh" not in [o["Key"] for o in s3.list_objects_v2(Bucket="data")["Contents"]]

    # backend_bck=none disconnects; what was cached stays.
    off = ais(here, "bucket", "props", "set", "ais://nnn", "backend_bck=none")
    assert off.returncode == 0, off.stderr
    assert '"backend_bck.name" set to: "" (was: "data")' in off.stdout
    assert names(nnn) == ["aaa/ddd", "written/here"]
    assert nnn.object("aaa/ddd").get_reader().read_all() == b"z" * 1000


def test_backend_bck_refuses_what_cannot_be_a_backend(here: Mesh) -> None:
    assert ais(here, "bucket", "create", "ais://front-bad").returncode == 0
    local = ais(here, "bucket", "props", "set", "ais://front-bad", "backend_bck=ais://plain")
    assert local.returncode != 0 and "remote cluster" in local.stderr
    junk = ais(here, "bucket", "props", "set", "ais://front-bad", "backend_bck=nonsense")
    assert junk.returncode != 0 and "nonsense" in junk.stderr
    missing = ais(here, "bucket", "props", "set", "ais://front-bad", "backend_bck=ais://@remb/no-such-bucket")
    assert missing.returncode != 0 and "no-such-bucket" in missing.stderr and "does not exist" in missing.stderr
    unknown = ais(here, "bucket", "props", "set", "ais://front-bad", "backend_bck=ais://@nobody/b")
    assert unknown.returncode != 0 and "not attached" in unknown.stderr
    shown = ais(here, "bucket", "props", "show", "ais://front-bad", "backend_bck", "--json")
    assert shown.returncode == 0 and '"data"' not in shown.stdout  # nothing was set


def test_cli_creates_and_removes_a_remote_clusters_bucket(here: Mesh, there: Mesh) -> None:
    made = ais(here, "bucket", "create", "ais://@remb/cli-made")
    assert made.returncode == 0, made.stderr
    assert "cli-made" in [b.name for b in Client(there.url).cluster().list_buckets()]
    gone = ais(here, "bucket", "rm", "ais://@remb/cli-made", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "cli-made" not in [b.name for b in Client(there.url).cluster().list_buckets()]


def test_never_reachable_and_unknown_remotes_fail_fast_and_clearly(here: Mesh) -> None:
    dead = f"http://127.0.0.1:{free_port()},http://127.0.0.1:{free_port()}"  # two URLs, neither answers
    r = requests.put(f"{here.url}/v1/cluster/attach", params={"what": "remote"}, timeout=30,
                     headers={"Ais-Remote-Ais-Alias": "never", "Ais-Remote-Ais-Url": dead})
    assert r.status_code == 200, r.text
    try:
        started = time.monotonic()
        resp = requests.get(f"{here.url}/v1/objects/b/o", params={"provider": "ais", "namespace": "@never#"},
                            timeout=30)
        assert time.monotonic() - started < 5
        assert resp.status_code == 503
        assert '"never"' in resp.json()["message"] and "not reachable" in resp.json()["message"]
        listed = ais(here, "ls", "ais://@never/b")
        assert listed.returncode != 0 and "never" in listed.stderr
    finally:
        requests.put(f"{here.url}/v1/cluster/detach", params={"what": "remote"}, timeout=30,
                     headers={"Ais-Remote-Ais-Alias": "never"})
    unknown = requests.get(f"{here.url}/v1/objects/b/o", params={"provider": "ais", "namespace": "@nobody#"},
                           timeout=30)
    assert unknown.status_code == 404 and "not attached" in unknown.json()["message"]


def test_offline_remote_keeps_serving_what_is_cached(here: Mesh, tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_mesh(str(tmp_path_factory.mktemp("offline")), "--targets", "1") as gone:
        Client(gone.url).bucket("ob").create()
        for n in ("kept", "not-read"):
            Client(gone.url).bucket("ob").object(n).get_writer().put_content(n.encode())
        assert ais(here, "cluster", "remote-attach", f"remoff={gone.url}").returncode == 0
        via = Client(here.url).bucket("ob", namespace=Namespace(uuid="remoff"))
        assert via.object("kept").get_reader().read_all() == b"kept"
    try:
        assert via.object("kept").get_reader().read_all() == b"kept"  # warm GET: the copy here
        started = time.monotonic()
        resp = requests.get(f"{here.url}/v1/objects/ob/not-read",
                            params={"provider": "ais", "namespace": "@remoff#"}, timeout=30)
        assert time.monotonic() - started < 5
        assert resp.status_code == 503 and "remoff" in resp.json()["message"]
        listed = ais(here, "ls", "ais://@remoff/ob")
        assert listed.returncode != 0 and "remoff" in listed.stderr
    finally:
        ais(here, "cluster", "remote-detach", "remoff")


def test_attach_with_several_urls_uses_the_one_that_answers(here: Mesh, there: Mesh) -> None:
    """`here` attached remb=DEAD,THERE at start: shown online with both URLs, and served."""
    Client(there.url).bucket("two-urls").create(exist_ok=True)
    listed = requests.get(f"{here.url}/v1/cluster", params={"what": "remote"}, timeout=30).json()["a"]
    remb = next(e for e in listed if e["alias"] == "remb")
    assert remb["online"] and remb["uuid"] == uuid_of(there)
    assert remb["url"].split(",")[1] == there.url
    done = ais(here, "ls", "ais://@remb")
    assert done.returncode == 0 and "ais://@remb/two-urls" in done.stdout.split()


def test_detach_while_in_use_then_attach_again(here: Mesh, there: Mesh) -> None:
    origin = Client(there.url).bucket("inuse")
    origin.create(exist_ok=True)
    origin.object("a").get_writer().put_content(b"A")
    via = Client(here.url).bucket("inuse", namespace=Namespace(uuid="remb"))
    assert via.object("a").get_reader().read_all() == b"A"
    assert ais(here, "cluster", "remote-detach", "remb").returncode == 0
    try:
        def refused() -> bool:
            r = requests.get(f"{here.url}/v1/objects/inuse/b", params={"provider": "ais", "namespace": "@remb#"},
                             timeout=30)
            return r.status_code == 404 and "not attached" in r.json()["message"]

        wait_for("a detached remote is refused", refused, timeout=10)
        put = requests.put(f"{here.url}/v1/objects/inuse/b", params={"provider": "ais", "namespace": "@remb#"},
                           data=b"B", timeout=30)
        assert put.status_code == 404 and '"remb"' in put.json()["message"]
        assert names(origin) == ["a"]  # nothing written half-way, nothing lost there
    finally:
        assert ais(here, "cluster", "remote-attach", f"remb={there.url}").returncode == 0
    wait_for("attached again", lambda: requests.get(
        f"{here.url}/v1/objects/inuse/a", params={"provider": "ais", "namespace": "@remb#"}, timeout=30
    ).status_code == 200, timeout=10)
    assert via.object("a").get_reader().read_all() == b"A"
    via.object("b").get_writer().put_content(b"B")
    assert names(origin) == ["a", "b"]


def test_chain_a_to_b_to_c(here: Mesh, there: Mesh, tmp_path_factory: pytest.TempPathFactory) -> None:
    """here -> there -> far: `there` fronts far's bucket with backend_bck; `here` reads it as
    ais://@remb/front."""
    with running_mesh(str(tmp_path_factory.mktemp("far")), "--targets", "1") as far:
        Client(far.url).bucket("deep").create()
        Client(far.url).bucket("deep").object("o").get_writer().put_content(b"from C")
        try:
            attach = ais(there, "cluster", "remote-attach", f"remc={far.url}")
            assert attach.returncode == 0, attach.stderr
            assert ais(there, "bucket", "create", "ais://front").returncode == 0
            done = ais(there, "bucket", "props", "set", "ais://front", "backend_bck=ais://@remc/deep")
            assert done.returncode == 0, done.stderr
            via = Client(here.url).bucket("front", namespace=Namespace(uuid="remb"))
            assert names(via) == ["o"]
            assert via.object("o").get_reader().read_all() == b"from C"
            via.object("p").get_writer().put_content(b"from A")
            assert Client(far.url).bucket("deep").object("p").get_reader().read_all() == b"from A"
        finally:
            ais(there, "cluster", "remote-detach", "remc")
