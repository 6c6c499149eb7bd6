"""Object names S3 allows and a filesystem does not like: all must round-trip exactly."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration

NAMES = [
    "данные/文件 ü.bin",
    "with space/and+plus&amp",
    "..",
    "a/../b",
    "../../escape",
    "/leading",
    "double//slash",
    "trailing/",
    "p" * 300 + "/x",
    "percent%20and?question#hash",
    "a",
    "a/b",
]


def test_every_name_round_trips(s3: Any, bucket: str) -> None:
    for i, name in enumerate(NAMES):
        s3.put_object(Bucket=bucket, Key=name, Body=f"{i}".encode())
    for i, name in enumerate(NAMES):
        assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == f"{i}".encode(), name
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == sorted(NAMES, key=lambda n: n.encode())


def test_names_never_escape_the_data_folder(mesh: Any, s3: Any, bucket: str) -> None:
    import os

    s3.put_object(Bucket=bucket, Key="../../../../../../../tmp/aismesh-escape", Body=b"x")
    assert not os.path.exists("/tmp/aismesh-escape")
    assert s3.get_object(Bucket=bucket, Key="../../../../../../../tmp/aismesh-escape")["Body"].read() == b"x"
