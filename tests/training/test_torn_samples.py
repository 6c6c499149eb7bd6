"""A sample read by eight DataLoader workers while another process overwrites it is never torn.

Each version of the object carries the SHA-256 of its payload; every read, through the aistore SDK
(native API) and boto3 (S3 API) alternately, is checked against it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

torch = pytest.importorskip("torch", reason="the training clients: run `make test-training`")

from tests.training.conftest import AWS_ENV, Dataset, Mesh, client_env  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 8 workers on 2 cores, on purpose

KEY = "hot/sample.bin"
READS = 480
SIZE = 3 << 20  # several of the data path's chunks, so a read that mixes versions would show


def versioned_blob(payload: bytes) -> bytes:
    return hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload


class HotSample(torch.utils.data.Dataset):  # type: ignore[misc]
    """READS reads of one object; each returns (path, sha of what it claims, sha of what came)."""

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.endpoint, self.bucket = endpoint, bucket
        self._sdk: Any = None
        self._s3: Any = None

    def __len__(self) -> int:
        return READS

    def __getitem__(self, i: int) -> tuple[str, str, str]:
        if self._sdk is None:  # one client each, made in the worker
            import boto3
            from aistore.sdk import Client

            self._sdk = Client(self.endpoint)
            self._s3 = boto3.client("s3", endpoint_url=self.endpoint + "/s3", region_name="us-east-1",
                                    aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                                    aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"])
        if i % 2:
            data, via = self._s3.get_object(Bucket=self.bucket, Key=KEY)["Body"].read(), "s3"
        else:
            data, via = self._sdk.bucket(self.bucket).object(KEY).get_reader().read_all(), "sdk"
        claimed, _, payload = data.partition(b"\n")
        return via, claimed.decode(errors="replace"), hashlib.sha256(payload).hexdigest()


WRITER = textwrap.dedent("""
    import hashlib, os, sys, time, boto3
    endpoint, bucket, key, size, stop = sys.argv[1:6]
    s3 = boto3.client("s3", endpoint_url=endpoint + "/s3", region_name="us-east-1")
    writes, deadline = 0, time.monotonic() + 300
    while not os.path.exists(stop) and time.monotonic() < deadline:
        payload = os.urandom(int(size))
        s3.put_object(Bucket=bucket, Key=key, Body=hashlib.sha256(payload).hexdigest().encode() + b"\\n" + payload)
        writes += 1
    print(writes, flush=True)
""")


def test_overwritten_sample_is_never_torn(mesh: Mesh, s3: Any, dataset: Dataset, tmp_path: Any) -> None:
    s3.put_object(Bucket=dataset.bucket, Key=KEY, Body=versioned_blob(os.urandom(SIZE)))
    stop = tmp_path / "stop"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, mesh.url, dataset.bucket, KEY, str(SIZE), str(stop)],
                              stdout=subprocess.PIPE, text=True, env=client_env())
    try:
        loader = torch.utils.data.DataLoader(HotSample(mesh.url, dataset.bucket), batch_size=None, num_workers=8)
        reads = list(loader)
    finally:
        stop.touch()
        out, _ = writer.communicate(timeout=120)
    assert writer.returncode == 0
    torn = [r for r in reads if r[1] != r[2]]
    assert len(reads) == READS
    assert torn == []
    assert {via for via, _, _ in reads} == {"sdk", "s3"}
    versions = {claimed for _, claimed, _ in reads}
    print(f"\n{out.strip()} overwrites; {len(versions)} versions seen in {READS} reads; none torn")
    assert int(out.strip()) >= 2 and len(versions) >= 2, f"{out.strip()} writes, {len(versions)} versions seen"
