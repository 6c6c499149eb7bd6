"""`ais archive` and `ais object cat` beyond the golden transcript: standard input, append-or-put,
what an extracted shard holds, multi-file selection, and the shards as the SDK reads them."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aistore.sdk import ArchiveConfig, Client, ListObjectFlag

pytestmark = pytest.mark.integration
AIS = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ais")


def ais(mesh: Any, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([AIS, *args], capture_output=True, input=stdin, timeout=120, check=False,
                          env=dict(os.environ, AIS_ENDPOINT=mesh.url))


@pytest.fixture
def bck(mesh: Any) -> Iterator[Any]:
    b = Client(mesh.url).bucket(f"cli-arch-{os.urandom(3).hex()}")
    b.create()
    yield b
    b.delete(missing_ok=True)


@pytest.mark.parametrize("shard", ["s.tar", "s.tgz", "s.zip", "s.tar.lz4"])
def test_archive_put_from_stdin_append_or_put_then_read_back(mesh: Any, bck: Any, tmp_path: Path, shard: str) -> None:
    uri = f"ais://{bck.name}/{shard}"
    r = ais(mesh, "archive", "put", "-", uri, "--archpath", "in/a.txt", "--append-or-put", stdin=b"AAA")
    assert r.returncode == 0 and r.stdout.decode() == f'APPEND - to {uri} as "in/a.txt"\n', r.stderr
    (tmp_path / "b.bin").write_bytes(b"BB")
    r = ais(mesh, "archive", "put", str(tmp_path / "b.bin"), uri, "--append-or-put")
    assert r.returncode == 0, r.stderr
    r = ais(mesh, "archive", "put", "-", uri, "--archpath", "in/a.txt", "--append", stdin=b"replaced")
    assert r.returncode == 0, r.stderr
    # the SDK sees the same shard
    names = [e.name for e in bck.list_all_objects(flags=[ListObjectFlag.ARCH_DIR])]
    assert sorted(names) == sorted([shard, f"{shard}/in/a.txt", f"{shard}/b.bin"])
    got = bck.object(shard).get_reader(archive_config=ArchiveConfig(archpath="in/a.txt")).read_all()
    assert got == b"replaced"
    assert ais(mesh, "object", "cat", uri, "--archpath", "b.bin").stdout == b"BB"
    out = tmp_path / "out"
    out.mkdir()
    r = ais(mesh, "archive", "get", uri, str(out))
    assert r.returncode == 0 and "and extract to" in r.stdout.decode(), r.stderr
    stem = shard.split(".", 1)[0]
    assert (out / stem / "in" / "a.txt").read_bytes() == b"replaced" and (out / stem / "b.bin").read_bytes() == b"BB"


def test_archive_get_with_archregx_returns_a_tar(mesh: Any, bck: Any, tmp_path: Path) -> None:
    for n in ("x/1.jpg", "x/1.cls", "x/2.jpg"):
        bck.object(n).get_writer().put_content(n.encode())
    r = ais(mesh, "archive", "bucket", f"ais://{bck.name}/x/", f"ais://{bck.name}/x.tar", "--wait")
    assert r.returncode == 0 and r.stdout.decode() == f"Archived ais://{bck.name}/x/ => ais://{bck.name}/x.tar\n"
    r = ais(mesh, "archive", "get", f"ais://{bck.name}/x.tar", str(tmp_path / "jpgs.tar"), "--archregx", ".jpg",
            "--archmode", "suffix")
    assert r.returncode == 0, r.stderr
    with tarfile.open(tmp_path / "jpgs.tar") as t:
        assert sorted(t.getnames()) == ["x/1.jpg", "x/2.jpg"]


def test_object_cat_streams_bytes_and_ranges(mesh: Any, bck: Any) -> None:
    data = os.urandom(3 << 20)
    bck.object("big").get_writer().put_content(data)
    assert ais(mesh, "object", "cat", f"ais://{bck.name}/big").stdout == data
    r = ais(mesh, "object", "cat", f"ais://{bck.name}/big", "--offset", str(1 << 20), "--length", "10")
    assert r.stdout == data[1 << 20:(1 << 20) + 10]
    r = ais(mesh, "object", "cat", f"ais://{bck.name}/big", "--offset", "-1", "--length", "10")
    assert r.returncode == 1 and b"invalid range" in r.stderr


def test_archive_bucket_include_source_bucket_and_append(mesh: Any, bck: Any) -> None:
    for n in ("o1", "o2", "o3"):
        bck.object(n).get_writer().put_content(n.encode())
    shard = f"ais://{bck.name}/a.tar"
    assert ais(mesh, "archive", "bucket", shard, "--list", "o1", "--include-src-bck", "--wait").returncode == 0
    r = ais(mesh, "archive", "bucket", shard, "--template", "o{2..3}", "--append-or-put", "--wait")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(bck.object("a.tar").get_reader().read_all())) as t:
        assert t.getnames() == [f"{bck.name}/o1", "o2", "o3"]
    r = ais(mesh, "archive", "bucket", shard, "--list", "o1", "--template", "o2")
    assert r.returncode == 1 and b"give one of" in r.stderr


def test_archive_put_of_a_directory(mesh: Any, bck: Any, tmp_path: Path) -> None:
    src = tmp_path / "docs"
    (src / "sub").mkdir(parents=True)
    for rel, data in (("a.md", b"A"), ("b.md", b"B"), ("sub/c.md", b"C")):
        (src / rel).write_bytes(data)
    uri = f"ais://{bck.name}/docs.tar"
    r = ais(mesh, "archive", "put", str(src), uri)
    assert r.returncode == 1 and b"requires either '--append' or '--append-or-put'" in r.stderr
    r = ais(mesh, "archive", "put", str(src), uri, "-y")
    assert r.returncode == 0 and r.stdout.decode() == f"APPEND 2 files (one directory, non-recursive) => {uri}\nDone\n"
    r = ais(mesh, "archive", "put", str(src), uri, "-r", "--append", "--archpath", "v2/")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(bck.object("docs.tar").get_reader().read_all())) as t:
        assert t.getnames() == ["a.md", "b.md", "v2/a.md", "v2/b.md", "v2/sub/c.md"]
