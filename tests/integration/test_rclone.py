"""rclone (Debian's), configured by its environment variables as a user would, against /s3:
uploads (single and multipart), listings, server-side copies and moves, checks by md5, sync,
deletes and purge. CI installs rclone with `make tools-s3` (a prerequisite of `make test`)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from typing import Any

import pytest

pytestmark = pytest.mark.integration


class Rclone:
    def __init__(self, mesh: Any, tmp_path: Any) -> None:
        # Debian's rclone 1.60 fails on AWS_CA_BUNDLE ("unable to load custom CA bundle"),
        # which some machines set: rclone is configured by its own variables only.
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),  # none: everything below
            "RCLONE_CONFIG_AIS_TYPE": "s3",
            "RCLONE_CONFIG_AIS_PROVIDER": "Other",
            "RCLONE_CONFIG_AIS_ENDPOINT": mesh.s3,
            "RCLONE_CONFIG_AIS_ACCESS_KEY_ID": "testing",
            "RCLONE_CONFIG_AIS_SECRET_ACCESS_KEY": "testing",
            "RCLONE_CONFIG_AIS_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG_AIS_REGION": "us-east-1",
        }

    def __call__(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(["rclone", "--retries", "1", "--low-level-retries", "1", *args],
                              capture_output=True, text=True, timeout=120, env=self.env)
        if ok:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def lsjson(self, path: str) -> dict[str, dict[str, Any]]:
        return {e["Path"]: e for e in json.loads(self("lsjson", "-R", "--hash", path).stdout) if not e["IsDir"]}


@pytest.fixture
def rclone(mesh: Any, tmp_path: Any) -> Rclone:
    if shutil.which("rclone") is None:
        if os.environ.get("CI"):  # CI installs it (make tools-s3): missing there is a failure
            pytest.fail("rclone is not installed: make tools-s3 did not install it")
        pytest.skip("rclone is not installed (make tools-s3)")
    return Rclone(mesh, tmp_path)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_rclone_copy_list_check_and_sync(rclone: Rclone, tmp_path: Any) -> None:
    bucket = f"rclone-{os.urandom(3).hex()}"
    src = tmp_path / "src"
    (src / "a" / "b").mkdir(parents=True)
    files = {"top.bin": os.urandom(10_000), "a/mid.txt": b"hello\n" * 100,
             "a/b/deep.bin": os.urandom(200_000), "a/b/empty": b"", "sp ace/é+%.bin": b"odd names"}
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    rclone("mkdir", f"ais:{bucket}")
    rclone("copy", str(src), f"ais:{bucket}/data")
    listed = rclone.lsjson(f"ais:{bucket}/data")
    assert {k: v["Size"] for k, v in listed.items()} == {k: len(v) for k, v in files.items()}
    assert {k: v["Hashes"]["md5"] for k, v in listed.items()} == {k: md5(v) for k, v in files.items()}
    rclone("check", str(src), f"ais:{bucket}/data")  # sizes and md5 of every file
    assert rclone("cat", f"ais:{bucket}/data/a/mid.txt").stdout == "hello\n" * 100
    # sync deletes what the source no longer has, and uploads what changed
    (src / "top.bin").unlink()
    (src / "a" / "mid.txt").write_bytes(b"changed")
    rclone("sync", str(src), f"ais:{bucket}/data")
    listed = rclone.lsjson(f"ais:{bucket}/data")
    assert "top.bin" not in listed
    assert listed["a/mid.txt"]["Hashes"]["md5"] == md5(b"changed")
    rclone("purge", f"ais:{bucket}")
    assert f"{bucket}" not in rclone("lsd", "ais:").stdout


def test_rclone_multipart_upload_and_server_side_copy_and_move(rclone: Rclone, tmp_path: Any) -> None:
    bucket = f"rclone-{os.urandom(3).hex()}"
    other = f"rclone-{os.urandom(3).hex()}"
    big = tmp_path / "big.bin"
    data = os.urandom(12 * (1 << 20) + 7)
    big.write_bytes(data)
    rclone("mkdir", f"ais:{bucket}")
    rclone("mkdir", f"ais:{other}")
    # 5 MiB parts: a three-part multipart upload
    rclone("copyto", "--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", str(big), f"ais:{bucket}/big.bin")
    # server-side: rclone copies inside the remote with CopyObject (or UploadPartCopy above
    # its copy cutoff), never through this machine
    rclone("copyto", "--s3-copy-cutoff", "5M", f"ais:{bucket}/big.bin", f"ais:{other}/copied.bin")
    rclone("moveto", f"ais:{bucket}/big.bin", f"ais:{bucket}/moved.bin")
    got = tmp_path / "got.bin"
    rclone("copyto", f"ais:{other}/copied.bin", str(got))
    assert got.read_bytes() == data
    rclone("copyto", f"ais:{bucket}/moved.bin", str(got))
    assert got.read_bytes() == data
    assert sorted(rclone.lsjson(f"ais:{bucket}")) == ["moved.bin"]
    # a missing bucket is a clear failure (a missing object is, to rclone, an empty directory)
    missing = rclone("ls", f"ais:{bucket}-missing", ok=False)
    assert missing.returncode != 0 and "not found" in missing.stderr.lower(), missing.stderr
    rclone("purge", f"ais:{bucket}")
    rclone("purge", f"ais:{other}")
