"""The unmodified aws CLI against /s3, and the bucket metadata as etcdctl shows it."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_aws_cli_round_trip(mesh: Any, aws_cli: Any, tmp_path: Any) -> None:
    name = f"cli-{os.urandom(4).hex()}"
    data = os.urandom(3 << 20)
    src = tmp_path / "file"
    src.write_bytes(data)

    def ok(*args: str) -> bytes:
        r = aws_cli(*args)
        assert r.returncode == 0, r.stderr.decode()
        return bytes(r.stdout)

    assert f"make_bucket: {name}" in ok("s3", "mb", f"s3://{name}").decode()
    etcd = subprocess.run([os.path.join(os.path.dirname(sys.executable), "etcdctl"), f"--endpoints={mesh.etcd}",
                           "get", "--prefix", "/ais/bmd"], capture_output=True, text=True, check=True).stdout
    assert f'"ais/@#/{name}": {{' in etcd and '"checksum"' in etcd

    ok("s3", "cp", str(src), f"s3://{name}/dir/file", "--no-progress")
    listing = ok("s3", "ls", f"s3://{name}", "--recursive").decode()
    assert f"{len(data)} dir/file" in listing
    assert ok("s3", "cp", f"s3://{name}/dir/file", "-") == data
    ok("s3", "rm", f"s3://{name}/dir/file")
    assert ok("s3", "ls", f"s3://{name}", "--recursive") == b""
    assert f"remove_bucket: {name}" in ok("s3", "rb", f"s3://{name}").decode()
    assert name not in ok("s3", "ls").decode()


def test_aws_cli_big_file_uses_multipart(aws_cli: Any, tmp_path: Any) -> None:
    name = f"cli-big-{os.urandom(4).hex()}"
    src = tmp_path / "big"
    src.write_bytes(os.urandom(20 << 20))
    assert aws_cli("s3", "mb", f"s3://{name}").returncode == 0
    assert aws_cli("s3", "cp", str(src), f"s3://{name}/big", "--no-progress").returncode == 0
    back = tmp_path / "back"
    assert aws_cli("s3", "cp", f"s3://{name}/big", str(back), "--no-progress").returncode == 0
    assert back.read_bytes() == src.read_bytes()
    assert aws_cli("s3", "rb", f"s3://{name}", "--force").returncode == 0


def test_aws_cli_error_exits_non_zero(aws_cli: Any) -> None:
    r = aws_cli("s3", "ls", f"s3://missing-{os.urandom(4).hex()}")
    assert r.returncode != 0
    assert b"NoSuchBucket" in r.stderr
