"""fsspec / s3fs against the S3 API: ls, glob, open, ranged reads, write, rm (recursive), multipart."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("s3fs", reason="the training clients: run `make test-training`")

from tests.training.conftest import AWS_ENV, SHARDS, Dataset, Mesh

MiB = 1 << 20


@pytest.fixture
def fs(mesh: Mesh) -> Iterator[Any]:
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=mesh.s3, key=AWS_ENV["AWS_ACCESS_KEY_ID"],
                           secret=AWS_ENV["AWS_SECRET_ACCESS_KEY"], skip_instance_cache=True)
    yield fs


def test_ls_glob_open_and_ranged_reads(fs: Any, dataset: Dataset) -> None:
    b = dataset.bucket
    assert sorted(fs.ls(b)) == sorted(f"{b}/{d}" for d in ("samples", "shards", "tfrecords"))
    shards = fs.glob(f"{b}/shards/shard-*.tar")
    assert shards == [f"{b}/shards/shard-{i:06d}.tar" for i in range(SHARDS)]
    want = dataset.files["shards/shard-000003.tar"]
    assert fs.info(shards[3])["size"] == len(want)
    with fs.open(shards[3], "rb", block_size=4096) as f:
        assert f.read() == want
        f.seek(1000)
        assert f.read(777) == want[1000:1777]
    assert fs.cat_file(shards[3], start=512, end=2048) == want[512:2048]
    assert fs.cat_file(shards[3], start=-100) == want[-100:]
    assert fs.cat(f"{b}/tfrecords/train-000001.tfrecord") == dataset.files["tfrecords/train-000001.tfrecord"]
    detail = fs.ls(f"{b}/tfrecords", detail=True)
    assert {d["name"]: d["size"] for d in detail} == {
        f"{b}/{k}": len(v) for k, v in dataset.files.items() if k.startswith("tfrecords/")}


def test_write_rm_and_recursive_rm(fs: Any, mesh: Mesh, s3: Any) -> None:
    b = f"fsspec-{os.urandom(3).hex()}"
    fs.mkdir(b)
    try:
        with fs.open(f"{b}/out/a.bin", "wb") as f:
            f.write(b"alpha")
        fs.pipe({f"{b}/out/sub/b.bin": b"beta", f"{b}/out/sub/c.bin": b"gamma", f"{b}/keep.bin": b"k"})
        fs.invalidate_cache()
        assert fs.find(f"{b}/out") == [f"{b}/out/a.bin", f"{b}/out/sub/b.bin", f"{b}/out/sub/c.bin"]
        fs.rm(f"{b}/out/a.bin")
        fs.invalidate_cache()
        assert not fs.exists(f"{b}/out/a.bin")
        fs.rm(f"{b}/out", recursive=True)
        fs.invalidate_cache()
        assert fs.find(b) == [f"{b}/keep.bin"]
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])] == ["keep.bin"]
    finally:
        fs.rm(b, recursive=True)
    assert b not in [x["Name"] for x in s3.list_buckets()["Buckets"]]


def test_multipart_write_of_a_large_file(fs: Any, s3: Any, dataset: Dataset) -> None:
    """s3fs writes a file larger than its block size as a multipart upload (5 MiB parts here)."""
    data = os.urandom(13 * MiB + 12345)
    path = f"{dataset.bucket}/big/blob.bin"
    with fs.open(path, "wb", block_size=5 * MiB) as f:
        for i in range(0, len(data), MiB):
            f.write(data[i:i + MiB])
    head = s3.head_object(Bucket=dataset.bucket, Key="big/blob.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3")  # three parts: 5 + 5 + 3 MiB
    got = fs.cat_file(path)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    assert fs.cat_file(path, start=5 * MiB - 10, end=5 * MiB + 10) == data[5 * MiB - 10:5 * MiB + 10]
    fs.rm(path)
