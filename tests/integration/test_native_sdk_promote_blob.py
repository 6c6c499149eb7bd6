"""Promote and blob download through the unmodified `aistore` SDK and the `ais` CLI.

One mesh for the module, with moto as its aws backend (blob download needs a remote bucket) and
a promote root in the test's temporary directory (``AISMESH_PROMOTE_ROOTS``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from aistore.sdk import Client, ListObjectFlag
from aistore.sdk.errors import AISError
from botocore.config import Config

from tests.conformance import emulators
from tests.integration.conftest import Mesh, running_mesh

pytestmark = pytest.mark.integration
AIS = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ais")


class World:
    def __init__(self, mesh: Mesh, moto_port: int, root: Path, outside: Path) -> None:
        self.mesh, self.root, self.outside = mesh, root, outside
        self.client = Client(mesh.url)
        self.moto = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{moto_port}", region_name="us-east-1",
                                 aws_access_key_id="testing", aws_secret_access_key="testing",
                                 config=Config(retries={"max_attempts": 1}))

    def ais(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([AIS, *args], capture_output=True, text=True, timeout=120, check=False,
                              env=dict(os.environ, AIS_ENDPOINT=self.mesh.url))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = tmp_path_factory.mktemp("promote")
    root, outside = work / "promote-root", work / "elsewhere"
    root.mkdir()
    outside.mkdir()
    with emulators.moto(str(work)) as m:
        env = {**emulators.aws_env(m.port), "AISMESH_PROMOTE_ROOTS": str(root)}
        with running_mesh(str(work / "mesh"), "--backends", "aws", env=env) as mesh:
            yield World(mesh, m.port, root, outside)


@pytest.fixture
def bck(world: World) -> Iterator[Any]:
    b = world.client.bucket(f"pr-{os.urandom(3).hex()}")
    b.create()
    yield b
    b.delete(missing_ok=True)


def tree(base: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_bytes(data)
    return base


def test_promote_a_file_and_a_directory(world: World, bck: Any) -> None:
    src = tree(world.root / "d1", {"a.txt": b"A", "sub/b.txt": b"BB", "sub/deep/c.txt": b"CCC"})
    assert bck.object("one/a").promote(str(src / "a.txt")) == ""  # a file: done at once, no job
    assert bck.object("one/a").get_reader().read_all() == b"A"
    job = bck.object("flat/").promote(str(src))
    assert world.client.job(job).wait(timeout=60, verbose=False).success
    assert [e.name for e in bck.list_all_objects(prefix="flat/")] == ["flat/a.txt"]
    job = bck.object("all/").promote(str(src), recursive=True)
    assert world.client.job(job).wait(timeout=60, verbose=False).success
    assert [e.name for e in bck.list_all_objects(prefix="all/")] == ["all/a.txt", "all/sub/b.txt",
                                                                     "all/sub/deep/c.txt"]
    assert bck.object("all/sub/deep/c.txt").get_reader().read_all() == b"CCC"
    assert src.joinpath("a.txt").exists()  # sources stay unless asked


def test_promote_overwrite_and_delete_source(world: World, bck: Any) -> None:
    src = tree(world.root / "d2", {"f": b"new"})
    bck.object("f").get_writer().put_content(b"old")
    bck.object("f").promote(str(src / "f"))
    assert bck.object("f").get_reader().read_all() == b"old"  # exists, no overwrite: kept
    bck.object("f").promote(str(src / "f"), overwrite_dest=True, delete_source=True)
    assert bck.object("f").get_reader().read_all() == b"new" and not (src / "f").exists()


def test_promote_refusals(world: World, bck: Any) -> None:
    (world.outside / "secret").write_bytes(b"x")
    (world.root / "link").symlink_to(world.outside / "secret")
    for path, status, words in ((str(world.outside / "secret"), 403, "outside the promote roots"),
                                (str(world.root / "missing"), 404, "does not exist"),
                                ("relative/path", 400, "absolute path"),
                                (str(world.root / "link"), 403, "outside the promote roots")):
        with pytest.raises(AISError) as ei:
            bck.object("x").promote(path)
        assert ei.value.status_code == status and words in ei.value.message, (path, ei.value)
    (world.root / "inner").write_bytes(b"i")
    (world.root / "inner-link").symlink_to(world.root / "inner")
    with pytest.raises(AISError) as ei:
        bck.object("x").promote(str(world.root / "inner-link"))
    assert ei.value.status_code == 400 and "symbolic link" in ei.value.message


def test_promote_through_the_cli(world: World, bck: Any) -> None:
    src = tree(world.root / "d3", {"x/1": b"1", "2": b"22"})
    r = world.ais("object", "promote", str(src), f"ais://{bck.name}/p/", "-r", "--wait")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f'recursively promoted "{src}" => ais://{bck.name}, xaction ID "j')
    assert lines[1] == "Done"
    assert [e.name for e in bck.list_all_objects()] == ["p/2", "p/x/1"]
    r = world.ais("object", "promote", str(world.outside), f"ais://{bck.name}")
    assert r.returncode == 1 and "outside the promote roots" in r.stderr


def test_blob_download_of_a_remote_object(world: World) -> None:
    name = f"blob-{os.urandom(3).hex()}"
    world.moto.create_bucket(Bucket=name)
    data = os.urandom(3 << 20)
    world.moto.put_object(Bucket=name, Key="big/obj", Body=data)
    world.moto.put_object(Bucket=name, Key="other", Body=b"o")
    b = world.client.bucket(name, provider="aws")
    b.head()  # first access adds the bucket
    assert [e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries] == []
    job = b.object("big/obj").blob_download(chunk_size=1 << 20, num_workers=2)
    status = world.client.job(job).wait(timeout=60, verbose=False)
    assert status.success, status.error
    assert [e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries] == ["big/obj"]
    assert b.object("big/obj").get_reader().read_all() == data
    snaps = world.client.job(job).get_details().list_snapshots()
    assert snaps[0].kind == "blob-download" and snaps[0].stats.objects == 1
    r = world.ais("blob-download", f"s3://{name}/other", "--wait")
    assert r.returncode == 0 and r.stdout.startswith("blob-download[j"), r.stderr
    assert r.stdout.endswith(f"s3://{name}/other: done\n")
    assert sorted(e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries) == ["big/obj", "other"]


def test_blob_download_refusals(world: World, bck: Any) -> None:
    bck.object("o").get_writer().put_content(b"x")
    with pytest.raises(AISError) as ei:
        bck.object("o").blob_download()
    assert ei.value.status_code == 400 and "remote buckets only" in ei.value.message
    name = f"blobbad-{os.urandom(3).hex()}"
    world.moto.create_bucket(Bucket=name)
    with pytest.raises(AISError) as ei:
        world.client.bucket(name, provider="aws").object("o").blob_download(chunk_size=10)
    assert ei.value.status_code == 400 and "chunk-size" in ei.value.message
    with pytest.raises(AISError) as ei:
        world.client.bucket(name, provider="aws").object("missing").blob_download()
    assert ei.value.status_code == 404
    r = world.ais("blob-download", f"ais://{bck.name}/o")
    assert r.returncode == 1 and "expecting remote bucket" in r.stderr


def test_prefetch_continue_on_error_and_blob_threshold(world: World) -> None:
    name = f"pf-{os.urandom(3).hex()}"
    world.moto.create_bucket(Bucket=name)
    for k in ("a", "b"):
        world.moto.put_object(Bucket=name, Key=k, Body=k.encode())
    b = world.client.bucket(name, provider="aws")
    b.head()
    failed = world.client.job(b.objects(obj_names=["a", "gone"]).prefetch()).wait(timeout=60, verbose=False)
    assert not failed.success and "gone" in failed.error
    done = world.client.job(b.objects(obj_names=["gone", "b", "a"]).prefetch(continue_on_error=True,
                                                                            blob_threshold=1 << 20))
    assert done.wait(timeout=60, verbose=False).success
    assert sorted(e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries) == ["a", "b"]
    with pytest.raises(AISError) as ei:
        b.objects(obj_names=["a"]).prefetch(blob_threshold=-1)
    assert ei.value.status_code == 400 and "blob-threshold" in ei.value.message
