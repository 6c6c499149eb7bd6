"""Remote gcp, azure and oci buckets through the gateway: fake-gcs-server, Azurite and the OCI fake
(tests/fakes) behind their adapters.

One mesh for the module, started with ``--backends gcp,azure,oci`` (oci only where its optional SDK
is installed); the adapters find the emulators through the usual environment
(``STORAGE_EMULATOR_HOST``, ``AZURE_STORAGE_CONNECTION_STRING``, ``OCI_*``).
Each case runs for both providers: objects are put at the emulator behind the cluster's back,
then read through S3 (boto3) and the native API.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import boto3
import pytest
import requests
from aistore.sdk import Client
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conformance import emulators
from tests.integration.conftest import Mesh, running_mesh
from tests.integration.test_remote_buckets import remote_gets


@dataclass
class Cloud:
    provider: str
    create_bucket: Callable[[str], Any]
    put: Callable[[str, str, bytes], Any]        # bucket, name, data: at the emulator
    read: Callable[[str, str], bytes]            # bucket, name: from the emulator
    exists: Callable[[str, str], bool]


class World:
    def __init__(self, mesh: Mesh, clouds: dict[str, Cloud], env: dict[str, str]) -> None:
        self.mesh = mesh
        self.clouds = clouds
        self.env = env  # what the adapters were started with
        self.gw = boto3.client("s3", endpoint_url=mesh.s3, region_name="us-east-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing",
                               config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
        self.ais = Client(mesh.url)

    def native(self, method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(method, self.mesh.url + path, timeout=30, **kw)


def gcp_cloud(port: int) -> Cloud:
    from google.api_core.exceptions import NotFound
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gcs = storage.Client(project="aismesh-test", credentials=AnonymousCredentials(),
                         client_options={"api_endpoint": f"http://127.0.0.1:{port}"})

    def exists(b: str, n: str) -> bool:
        try:
            gcs.bucket(b).blob(n).reload()
            return True
        except NotFound:
            return False

    return Cloud("gcp", gcs.create_bucket,
                 lambda b, n, d: gcs.bucket(b).blob(n).upload_from_string(d),
                 lambda b, n: gcs.bucket(b).blob(n).download_as_bytes(), exists)


def azure_cloud(port: int) -> Cloud:
    from azure.storage.blob import BlobServiceClient

    svc = BlobServiceClient.from_connection_string(emulators.azure_conn(port))
    return Cloud("azure", svc.create_container,
                 lambda b, n, d: svc.get_blob_client(b, n).upload_blob(d, overwrite=True),
                 lambda b, n: svc.get_blob_client(b, n).download_blob().readall(),
                 lambda b, n: bool(svc.get_blob_client(b, n).exists()))


def oci_cloud(port: int) -> Cloud:
    base = f"http://127.0.0.1:{port}/n/ns-test/b"

    def url(b: str, n: str) -> str:
        return f"{base}/{b}/o/{quote(n, safe='')}"

    return Cloud("oci", lambda b: requests.post(base, json={"name": b, "compartmentId": "c"}, timeout=5),
                 lambda b, n, d: requests.put(url(b, n), data=d, timeout=5).raise_for_status(),
                 lambda b, n: requests.get(url(b, n), timeout=5).content,
                 lambda b, n: requests.head(url(b, n), timeout=5).status_code == 200)


HAVE_OCI = importlib.util.find_spec("oci") is not None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    work = str(tmp_path_factory.mktemp("clouds"))
    with contextlib.ExitStack() as stack:
        gcs = stack.enter_context(emulators.fake_gcs(work))
        az = stack.enter_context(emulators.azurite(work))
        env = {**emulators.gcp_env(gcs.port), **emulators.azure_env(az.port)}
        clouds = {"gcp": gcp_cloud(gcs.port), "azure": azure_cloud(az.port)}
        if HAVE_OCI:
            oc = stack.enter_context(emulators.fake_oci(work))
            env.update(emulators.oci_env(oc.port, work))
            clouds["oci"] = oci_cloud(oc.port)
        mesh = stack.enter_context(running_mesh(os.path.join(work, "mesh"), "--backends", ",".join(clouds), env=env))
        yield World(mesh, clouds, env)


def unique(stem: str) -> str:
    return f"{stem}-{os.urandom(3).hex()}"


PROVIDERS = ["gcp", "azure", pytest.param("oci", marks=pytest.mark.skipif(not HAVE_OCI, reason="no oci SDK"))]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_first_access_then_cold_and_warm_get_through_s3(world: World, provider: str) -> None:
    cloud = world.clouds[provider]
    name = unique(f"first-{provider}")
    cloud.create_bucket(name)
    data = os.urandom(3 * (1 << 20) + 5)
    cloud.put(name, "dir/obj", data)
    with pytest.raises(ClientError):  # not in the BMD yet: S3 cannot name it
        world.gw.head_bucket(Bucket=name)
    world.ais.bucket(name, provider=provider).head()  # the native API's first access adds it
    assert name in [b.name for b in world.ais.cluster().list_buckets(provider=provider)]
    before = remote_gets(world.mesh)
    got = world.gw.get_object(Bucket=name, Key="dir/obj")["Body"].read()
    assert hashlib.md5(got).digest() == hashlib.md5(data).digest()
    assert world.gw.head_object(Bucket=name, Key="dir/obj")["ContentLength"] == len(data)
    again = world.gw.get_object(Bucket=name, Key="dir/obj")["Body"].read()
    assert again == data
    after = remote_gets(world.mesh)
    assert (after["cold"] - before["cold"], after["warm"] - before["warm"]) == (1, 1)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_cold_range_read(world: World, provider: str) -> None:
    cloud = world.clouds[provider]
    name = unique(f"range-{provider}")
    cloud.create_bucket(name)
    data = os.urandom(100_000)
    cloud.put(name, "r", data)
    world.ais.bucket(name, provider=provider).head()
    got = world.gw.get_object(Bucket=name, Key="r", Range="bytes=10-19")["Body"].read()
    assert got == data[10:20]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_write_through_put_list_and_delete(world: World, provider: str) -> None:
    cloud = world.clouds[provider]
    name = unique(f"wt-{provider}")
    cloud.create_bucket(name)
    cloud.put(name, "a/seeded", b"seed")
    world.ais.bucket(name, provider=provider).head()
    body = os.urandom(50_000)
    world.gw.put_object(Bucket=name, Key="a/written", Body=body)
    assert cloud.read(name, "a/written") == body  # the remote has it
    listed = world.gw.list_objects_v2(Bucket=name, Prefix="a/")
    assert [o["Key"] for o in listed["Contents"]] == ["a/seeded", "a/written"]
    world.gw.delete_object(Bucket=name, Key="a/written")
    assert not cloud.exists(name, "a/written")
    with pytest.raises(ClientError) as ei:
        world.gw.get_object(Bucket=name, Key="a/written")
    assert ei.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


@pytest.mark.parametrize("provider", PROVIDERS)
def test_missing_remote_bucket_is_not_found(world: World, provider: str) -> None:
    r = world.native("HEAD", f"/v1/buckets/{unique('nope')}", params={"provider": provider})
    assert r.status_code == 404


def _cached(world: World, provider: str, name: str) -> list[str]:
    r = world.native("GET", f"/v1/buckets/{name}", params={"provider": provider},
                     json={"action": "list", "value": {"flags": "1"}})  # LsCached
    assert r.status_code == 200, r.text
    return sorted(e["name"] for e in r.json()["entries"])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_sdk_cold_and_warm_get_evict_and_prefetch(world: World, provider: str) -> None:
    cloud = world.clouds[provider]
    name = unique(f"sdk-{provider}")
    cloud.create_bucket(name)
    for k in ("p/1", "p/2", "q/3"):
        cloud.put(name, k, k.encode() * 1000)
    b = world.ais.bucket(name, provider=provider)
    b.head()
    assert b.object("p/1").get_reader().read_all() == b"p/1" * 1000  # cold
    assert _cached(world, provider, name) == ["p/1"]
    assert b.object("p/1").get_reader().read_all() == b"p/1" * 1000  # warm
    world.ais.job(b.objects(obj_template="q/").prefetch()).wait(timeout=30)
    assert _cached(world, provider, name) == ["p/1", "q/3"]
    world.ais.job(b.objects(obj_names=["p/1"]).evict()).wait(timeout=30)
    assert _cached(world, provider, name) == ["q/3"]
    assert cloud.read(name, "p/1") == b"p/1" * 1000  # the remote keeps its data
    b.evict(keep_md=False)
    assert name not in [x.name for x in world.ais.cluster().list_buckets(provider=provider)]
    assert cloud.exists(name, "q/3")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_changed_remote_object_is_refetched_when_the_bucket_validates(world: World, provider: str) -> None:
    cloud = world.clouds[provider]
    name = unique(f"val-{provider}")
    cloud.create_bucket(name)
    cloud.put(name, "v", b"one")
    r = world.native("POST", f"/v1/buckets/{name}", params={"provider": provider},
                     json={"action": "create-bck", "value": {"versioning": {"validate_warm_get": True}}})
    assert r.status_code == 200, r.text
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"one"
    cloud.put(name, "v", b"two, longer")
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"two, longer"
    # Without validation the cached copy is served as it is.
    r = world.native("PATCH", f"/v1/buckets/{name}", params={"provider": provider},
                     json={"action": "set-bprops", "value": {"versioning": {"validate_warm_get": False}}})
    assert r.status_code == 200, r.text
    cloud.put(name, "v", b"three")
    assert world.gw.get_object(Bucket=name, Key="v")["Body"].read() == b"two, longer"


def test_same_name_of_every_provider_coexists(world: World) -> None:
    name = unique("same")
    for provider, cloud in world.clouds.items():
        cloud.create_bucket(name)
        cloud.put(name, "who", provider.encode())
        world.ais.bucket(name, provider=provider).head()
    world.ais.bucket(name).create()
    world.ais.bucket(name).object("who").get_writer().put_content(b"ais")
    for provider in [*world.clouds, "ais"]:
        assert world.ais.bucket(name, provider=provider).object("who").get_reader().read_all() == provider.encode()
    # S3 names a bucket without a provider: several matches are a clear error naming them.
    with pytest.raises(ClientError) as ei:
        world.gw.get_object(Bucket=name, Key="who")
    message = ei.value.response["Error"]["Message"]
    shown = {"ais": "ais", "gcp": "gs", "azure": "az", "oci": "oc"}
    assert all(f"{shown[p]}://{name}" in message for p in ["ais", *world.clouds]), message


def test_wrong_gcp_credentials_are_a_clear_error_naming_the_provider(world: World, tmp_path: Any) -> None:
    bad = tmp_path / "creds.json"
    bad.write_text('{"type": "service_account", "client_email": "x@y"}')
    for creds in (str(tmp_path / "missing.json"), str(bad)):
        r = world.native("POST", f"/v1/buckets/{unique('creds')}", params={"provider": "gcp"},
                         json={"action": "create-bck", "value": {"extra": {"gcp": {"application_creds": creds}}}})
        assert r.status_code in (400, 401, 403), r.text
        assert "gcp" in r.text and "credentials" in r.text.lower(), r.text


def test_wrong_azure_key_is_a_clear_error_naming_the_provider(world: World, tmp_path: Any) -> None:
    wrong = world.env["AZURE_STORAGE_CONNECTION_STRING"].replace(
        f"AccountKey={emulators.AZURITE_KEY}", "AccountKey=" + base64.b64encode(b"not the key").decode())
    with running_mesh(str(tmp_path / "mesh"), "--backends", "azure",
                      env={"AZURE_STORAGE_CONNECTION_STRING": wrong}) as mesh:
        r = requests.head(f"{mesh.url}/v1/buckets/{unique('key')}", params={"provider": "azure"}, timeout=30)
        assert r.status_code in (401, 403), r.status_code
        r = requests.get(f"{mesh.url}/v1/objects/{unique('key')}/o", params={"provider": "azure"}, timeout=30)
        assert r.status_code in (401, 403), r.text
        assert "azure" in r.text, r.text
