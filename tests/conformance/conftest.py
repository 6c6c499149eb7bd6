"""One suite, every adapter: each case runs against aws (moto server) and ht (nginx).

A ``Remote`` is what a case needs from a provider: the adapter's stub, a bucket on the
emulator, a way to put an object there behind the adapter's back, and what the provider can do.
Later adapters (gcp, azure, oci, ais) join by adding a fixture branch here.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import grpc
import pytest

from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from tests.conformance import emulators


@dataclass
class Remote:
    provider: str
    stub: backend_pb2_grpc.BackendStub
    bucket: backend_pb2.RemoteBucket
    seed: Callable[[str, bytes], None]      # put an object behind the adapter's back
    can_write: bool
    missing_bucket: backend_pb2.RemoteBucket

    def call(self, method: str, request: Any, timeout: float = 10) -> Any:
        return getattr(self.stub, method)(request, timeout=timeout)


@pytest.fixture(scope="session")
def aws_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    work = str(tmp_path_factory.mktemp("aws"))
    with emulators.moto(work) as m, emulators.adapter("aws", work, emulators.aws_env(m.port)) as a:
        env = emulators.aws_env(m.port)
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="conf")
        with grpc.insecure_channel(a.addr) as ch:
            yield Remote(
                provider="aws", stub=backend_pb2_grpc.BackendStub(ch),
                bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="aws", name="conf")),
                seed=lambda name, data: s3.put_object(Bucket="conf", Key=name, Body=data),
                can_write=True,
                missing_bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="aws", name="nope-missing")),
            )


@pytest.fixture(scope="session")
def ht_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    work = str(tmp_path_factory.mktemp("ht"))
    with emulators.nginx(work) as (ng, root), emulators.adapter("ht", work) as a:
        origin = f"http://127.0.0.1:{ng.port}/json/"

        def seed(name: str, data: bytes) -> None:
            for sub in ("json", "html"):
                path = os.path.join(root, sub, name)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(data)

        with grpc.insecure_channel(a.addr) as ch:
            yield Remote(
                provider="ht", stub=backend_pb2_grpc.BackendStub(ch),
                bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ht", name="conf"),
                                                extra={"http.original_url": origin}),
                seed=seed, can_write=False,
                missing_bucket=backend_pb2.RemoteBucket(
                    bck=types_pb2.Bck(provider="ht", name="missing"),
                    extra={"http.original_url": f"http://127.0.0.1:{ng.port}/no-such-folder/"}),
            )


@pytest.fixture(params=["aws", "ht"])
def remote(request: pytest.FixtureRequest) -> Remote:
    r: Remote = request.getfixturevalue(f"{request.param}_remote")
    return r
