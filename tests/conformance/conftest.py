"""One suite, every adapter: aws (moto server), ht (nginx), gcp (fake-gcs-server), azure (Azurite),
oci (tests/fakes/oci_objectstorage.py; skipped without the optional oci SDK), ais (a one-target
mesh as the remote AIS cluster, attached in its own metadata service).

A ``Remote`` is what a case needs from a provider: the adapter's stub, a bucket on the
emulator, a way to put an object there behind the adapter's back, and what the provider can do.
A new adapter joins by adding a fixture branch here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

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
    seed: Callable[[str, bytes], Any]       # put an object behind the adapter's back
    can_write: bool
    missing_bucket: backend_pb2.RemoteBucket
    # A stub and bucket whose provider endpoint is a closed port (a bucket key, or a second adapter).
    unreachable: Callable[[str], contextlib.AbstractContextManager[tuple[Any, backend_pb2.RemoteBucket]]]

    def call(self, method: str, request: Any, timeout: float = 10) -> Any:
        return getattr(self.stub, method)(request, timeout=timeout)


def _by_key(stub: Any, rb: backend_pb2.RemoteBucket, key: str
            ) -> Callable[[str], contextlib.AbstractContextManager[tuple[Any, backend_pb2.RemoteBucket]]]:
    @contextlib.contextmanager
    def dead(url: str) -> Iterator[tuple[Any, backend_pb2.RemoteBucket]]:
        yield stub, backend_pb2.RemoteBucket(bck=rb.bck, extra={**rb.extra, key: url + "/"})
    return dead


def _by_adapter(provider: str, work: str, env_of: Callable[[str], dict[str, str]], rb: backend_pb2.RemoteBucket
                ) -> Callable[[str], contextlib.AbstractContextManager[tuple[Any, backend_pb2.RemoteBucket]]]:
    """A second adapter whose environment names the dead endpoint (providers without a bucket key)."""
    @contextlib.contextmanager
    def dead(url: str) -> Iterator[tuple[Any, backend_pb2.RemoteBucket]]:
        with emulators.adapter(provider, work, env_of(url)) as a, grpc.insecure_channel(a.addr) as ch:
            yield backend_pb2_grpc.BackendStub(ch), rb
    return dead


@pytest.fixture(scope="session")
def aws_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    work = str(tmp_path_factory.mktemp("aws"))
    with emulators.moto(work) as m, emulators.adapter("aws", work, emulators.aws_env(m.port)) as a:
        env = emulators.aws_env(m.port)
        s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="conf")
        with grpc.insecure_channel(a.addr) as ch:
            stub = backend_pb2_grpc.BackendStub(ch)
            rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="aws", name="conf"))
            yield Remote(
                provider="aws", stub=stub, bucket=rb, unreachable=_by_key(stub, rb, "aws.endpoint"),
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
            stub = backend_pb2_grpc.BackendStub(ch)
            rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ht", name="conf"),
                                          extra={"http.original_url": origin})
            yield Remote(
                provider="ht", stub=stub, bucket=rb, unreachable=_by_key(stub, rb, "http.original_url"),
                seed=seed, can_write=False,
                missing_bucket=backend_pb2.RemoteBucket(
                    bck=types_pb2.Bck(provider="ht", name="missing"),
                    extra={"http.original_url": f"http://127.0.0.1:{ng.port}/no-such-folder/"}),
            )


@pytest.fixture(scope="session")
def gcp_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    work = str(tmp_path_factory.mktemp("gcp"))
    with emulators.fake_gcs(work) as f, emulators.adapter("gcp", work, emulators.gcp_env(f.port)) as a:
        gcs = storage.Client(project="aismesh-test", credentials=AnonymousCredentials(),
                             client_options={"api_endpoint": f"http://127.0.0.1:{f.port}"})
        gcs.create_bucket("conf")
        bucket = gcs.bucket("conf")
        with grpc.insecure_channel(a.addr) as ch:
            rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="gcp", name="conf"))
            yield Remote(
                provider="gcp", stub=backend_pb2_grpc.BackendStub(ch), bucket=rb,
                seed=lambda name, data: bucket.blob(name).upload_from_string(data),
                can_write=True,
                missing_bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="gcp", name="nope-missing")),
                unreachable=_by_adapter("gcp", work, lambda url: {**emulators.gcp_env(0), "STORAGE_EMULATOR_HOST": url},
                                        rb),
            )


@pytest.fixture(scope="session")
def azure_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    from azure.storage.blob import BlobServiceClient

    work = str(tmp_path_factory.mktemp("azure"))
    with emulators.azurite(work) as az, emulators.adapter("azure", work, emulators.azure_env(az.port)) as a:
        container = BlobServiceClient.from_connection_string(emulators.azure_conn(az.port)).create_container("conf")
        with grpc.insecure_channel(a.addr) as ch:
            rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="azure", name="conf"))
            yield Remote(
                provider="azure", stub=backend_pb2_grpc.BackendStub(ch), bucket=rb,
                seed=lambda name, data: container.upload_blob(name, data, overwrite=True),
                can_write=True,
                missing_bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="azure", name="nope-missing")),
                unreachable=_by_adapter("azure", work, lambda url: emulators.azure_env(int(url.rsplit(":", 1)[1])),
                                        rb),
            )


@pytest.fixture(scope="session")
def oci_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    pytest.importorskip("oci", reason="the oci SDK is optional (pip install -e '.[oci]')")
    import requests

    work = str(tmp_path_factory.mktemp("oci"))
    with emulators.fake_oci(work) as f:
        env = emulators.oci_env(f.port, work)
        base = f"http://127.0.0.1:{f.port}/n/ns-test/b"
        requests.post(base, json={"name": "conf", "compartmentId": "c"}, timeout=5).raise_for_status()
        with emulators.adapter("oci", work, env) as a, grpc.insecure_channel(a.addr) as ch:
            rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="oci", name="conf"))
            yield Remote(
                provider="oci", stub=backend_pb2_grpc.BackendStub(ch), bucket=rb,
                seed=lambda name, data: requests.put(f"{base}/conf/o/{quote(name, safe='')}", data=data,
                                                     timeout=5).raise_for_status(),
                can_write=True,
                missing_bucket=backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="oci", name="nope-missing")),
                unreachable=_by_adapter("oci", work, lambda url: {**env, "OCI_OBJECT_STORAGE_ENDPOINT": url}, rb),
            )


@pytest.fixture(scope="session")
def ais_remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """A one-target mesh is the remote AIS cluster; its own metadata service keeps the
    attachment the adapter reads ("confais" -> the mesh's URL)."""
    import requests

    from aismesh.protos import metadata_pb2, metadata_pb2_grpc
    from tests.integration.conftest import running_mesh

    work = str(tmp_path_factory.mktemp("ais"))
    with running_mesh(os.path.join(work, "mesh"), "--targets", "1") as mesh:
        meta = next(s["addr"] for s in mesh.status()["services"] if s["name"] == "metadata")
        with grpc.insecure_channel(meta) as mch:
            attach = metadata_pb2_grpc.MetadataStub(mch).AttachRemote
            attach(metadata_pb2.RemoteCluster(alias="confais", url=mesh.url), timeout=10)
            assert requests.post(f"{mesh.url}/v1/buckets/conf", json={"action": "create-bck"},
                                 timeout=10).status_code == 200

            def seed(name: str, data: bytes) -> None:
                r = requests.put(f"{mesh.url}/v1/objects/conf/{quote(name)}", data=data, timeout=30)
                assert r.status_code == 200, r.text

            @contextlib.contextmanager
            def dead(url: str) -> Iterator[tuple[Any, backend_pb2.RemoteBucket]]:
                attach(metadata_pb2.RemoteCluster(alias="confdead", url=url), timeout=10)
                yield stub, backend_pb2.RemoteBucket(bck=types_pb2.Bck(
                    provider="ais", name="conf", ns=types_pb2.Namespace(uuid="confdead")))

            def ns_bck(name: str) -> backend_pb2.RemoteBucket:
                return backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="ais", name=name,
                                                                  ns=types_pb2.Namespace(uuid="confais")))

            with emulators.adapter("ais", work, {"AISMESH_METADATA": meta}) as a, grpc.insecure_channel(a.addr) as ch:
                stub = backend_pb2_grpc.BackendStub(ch)
                yield Remote(provider="ais", stub=stub, bucket=ns_bck("conf"), seed=seed, can_write=True,
                             missing_bucket=ns_bck("nope-missing"), unreachable=dead)


PROVIDERS = ["aws", "ht", "gcp", "azure", "oci", "ais"]


@pytest.fixture(params=PROVIDERS)
def remote(request: pytest.FixtureRequest) -> Remote:
    r: Remote = request.getfixturevalue(f"{request.param}_remote")
    return r
