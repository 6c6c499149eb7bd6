"""S3-API-via-Root: the S3 API at "/" as well as "/s3", set at start and at run time; /v1 stays native."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.conftest import Mesh, running_mesh, wait_for

pytestmark = pytest.mark.integration
KEY, SECRET = "rootkey", "rootsecret"


@pytest.fixture(scope="module")
def rooted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(str(tmp_path_factory.mktemp("root")), "--s3-at-root",
                      env={"AISMESH_S3_ACCESS_KEY": KEY, "AISMESH_S3_SECRET_KEY": SECRET}) as m:
        yield m


def s3_at(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=KEY,
                        aws_secret_access_key=SECRET,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def set_config(m: Mesh, body: dict[str, Any]) -> None:
    req = urllib.request.Request(f"{m.url}/v1/cluster", method="PUT", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


def features(m: Mesh) -> str:
    with urllib.request.urlopen(f"{m.url}/v1/cluster?what=config", timeout=10) as r:
        return str(json.loads(r.read())["features"])


def root_answers_s3(m: Mesh) -> bool:
    try:
        s3_at(m.url).list_buckets()
        return True
    except ClientError:
        return False


def test_s3_at_the_root_and_under_s3(rooted: Mesh) -> None:
    root, prefixed = s3_at(rooted.url), s3_at(rooted.s3)
    bucket = f"root-{os.urandom(3).hex()}"
    root.create_bucket(Bucket=bucket)
    root.put_object(Bucket=bucket, Key="a/b.txt", Body=b"at the root")
    # The same bucket and object through /s3, and the listing at the root.
    assert prefixed.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read() == b"at the root"
    assert [o["Key"] for o in root.list_objects_v2(Bucket=bucket)["Contents"]] == ["a/b.txt"]
    assert bucket in [b["Name"] for b in root.list_buckets()["Buckets"]]
    with pytest.raises(ClientError) as e:
        root.get_object(Bucket=bucket, Key="missing")
    assert e.value.response["Error"]["Code"] == "NoSuchKey"
    # Signed at the root, so a wrong secret is refused there too.
    bad = boto3.client("s3", endpoint_url=rooted.url, region_name="us-east-1", aws_access_key_id=KEY,
                       aws_secret_access_key="wrong", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        bad.list_buckets()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    # The native API stays at /v1, unauthenticated as before.
    with urllib.request.urlopen(f"{rooted.url}/v1/buckets/{bucket}?provider=ais", timeout=10) as r:
        assert r.status == 200
    assert int(features(rooted)) & 8


def test_the_flag_follows_the_cluster_config_at_run_time(rooted: Mesh) -> None:
    try:
        set_config(rooted, {"action": "set-config", "value": {"features": "0"}})
        assert features(rooted) == "0"
        wait_for("every gateway worker stops serving S3 at the root", lambda: all(
            not root_answers_s3(rooted) for _ in range(8)))
        # Off: an S3 client at the root is told where the S3 API is (S3 XML, not a native 404).
        with pytest.raises(ClientError) as e:
            s3_at(rooted.url).list_buckets()
        assert e.value.response["Error"]["Code"] == "InvalidRequest"
        assert "/s3" in e.value.response["Error"]["Message"]
        assert s3_at(rooted.s3).list_buckets()["ResponseMetadata"]["HTTPStatusCode"] == 200
    finally:
        # AIS's query form, with the flag by name.
        req = urllib.request.Request(f"{rooted.url}/v1/cluster/setconfig?features=S3-API-via-Root", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200
    assert features(rooted) == "8"
    wait_for("every gateway worker serves S3 at the root again",
             lambda: all(root_answers_s3(rooted) for _ in range(8)))


def test_bad_feature_names_are_refused(rooted: Mesh) -> None:
    req = urllib.request.Request(f"{rooted.url}/v1/cluster/setconfig?features=No-Such-Flag", method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    assert b"No-Such-Flag" in e.value.read()
    assert features(rooted) == "8"


def test_root_without_the_flag_is_a_hint_on_the_default_mesh(mesh: Mesh) -> None:
    """The session mesh starts without the flag: / is not S3, and says so in S3's dialect."""
    s3 = boto3.client("s3", endpoint_url=mesh.url, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        s3.list_buckets()
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    assert "S3-API-via-Root" in e.value.response["Error"]["Message"]


def test_ais_cli_sets_the_flag(rooted: Mesh) -> None:
    import subprocess
    import sys

    ais = os.path.join(os.path.dirname(sys.executable), "ais")
    env = dict(os.environ, AIS_ENDPOINT=rooted.url)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ais, "config", "cluster", *args], capture_output=True, text=True, env=env, timeout=30)

    try:
        done = run("features", "none")
        assert done.returncode == 0, done.stderr
        assert features(rooted) == "0"
        done = run("features", "No-Such-Flag")
        assert done.returncode != 0 and "No-Such-Flag" in done.stderr
    finally:
        done = run("features", "S3-API-via-Root")
        assert done.returncode == 0, done.stderr
    assert features(rooted) == "8"
    assert "8" in run("features").stdout
    wait_for("every gateway worker serves S3 at the root again",
             lambda: all(root_answers_s3(rooted) for _ in range(8)))
