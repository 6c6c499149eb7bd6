"""s3cmd, configured as the README shows, against /s3."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

pytestmark = pytest.mark.integration
S3CMD = os.path.join(os.path.dirname(sys.executable), "s3cmd")


def test_s3cmd_round_trip_as_the_readme_configures_it(mesh: Any, tmp_path: Any) -> None:
    host = mesh.url.removeprefix("http://") + "/s3"
    cfg = tmp_path / "s3cfg"
    cfg.write_text(f"[default]\naccess_key = testing\nsecret_key = testing\nhost_base = {host}\n"
                   f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n")
    bucket = f"s3cmd-{os.urandom(3).hex()}"
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(os.urandom(300_000))

    def s3cmd(*args: str) -> str:
        done = subprocess.run([S3CMD, "-c", str(cfg), *args], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    s3cmd("mb", f"s3://{bucket}")
    s3cmd("put", str(src), f"s3://{bucket}/dir/src.bin")
    assert f"s3://{bucket}/dir/src.bin" in s3cmd("ls", f"s3://{bucket}/dir/")
    s3cmd("get", "--force", f"s3://{bucket}/dir/src.bin", str(dst))
    assert dst.read_bytes() == src.read_bytes()
    s3cmd("del", f"s3://{bucket}/dir/src.bin")
    s3cmd("rb", f"s3://{bucket}")
