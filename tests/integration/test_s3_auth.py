"""S3 authentication (AWS SigV4) on a mesh started with access keys: boto3, the aws CLI, s3cmd,
presigned URLs fetched with plain HTTP clients, and the refusals S3 answers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.conftest import BIN, Mesh, running_mesh, wait_for

pytestmark = pytest.mark.integration
KEY, SECRET = "AKIAMESHTEST", "mesh-secret/with+odd=chars"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A mesh with S3 keys: the secret given in the environment, the access key as a flag."""
    with running_mesh(str(tmp_path_factory.mktemp("auth")), "--s3-access-key", KEY,
                      env={"AISMESH_S3_SECRET_KEY": SECRET}) as m:
        yield m


def client(m: Mesh, key: str = KEY, secret: str = SECRET, signature_version: str | None = None) -> Any:
    return boto3.client("s3", endpoint_url=m.s3, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret,
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version=signature_version))


def code_of(e: ClientError) -> str:
    return str(e.response["Error"]["Code"])


def xml_code(body: bytes) -> tuple[str, str]:
    root = ElementTree.fromstring(body)
    return root.findtext("Code") or "", root.findtext("Message") or ""


@pytest.fixture(scope="module")
def bucket(keyed: Mesh) -> str:
    name = f"auth-{os.urandom(3).hex()}"
    client(keyed).create_bucket(Bucket=name)
    return name


def test_boto3_signed_requests_work(keyed: Mesh, bucket: str) -> None:
    s3 = client(keyed)
    s3.put_object(Bucket=bucket, Key="dir/a b+c.txt", Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key="dir/a b+c.txt")["Body"].read() == b"hello"
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]]
    assert keys == ["dir/a b+c.txt"]
    # A large upload goes through the multipart calls, each signed.
    s3.upload_fileobj(__import__("io").BytesIO(os.urandom(9 << 20)), bucket, "big.bin")
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ContentLength"] == 9 << 20


def signed_headers(url: str, method: str, payload: str, headers: dict[str, str] | None = None,
                   secret: str = SECRET) -> dict[str, str]:
    """Headers botocore's own S3 signer makes for a request whose x-amz-content-sha256 is ``payload``."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class Signer(S3SigV4Auth):
        def payload(self, request: Any) -> str:
            return payload

    req = AWSRequest(method=method, url=url, headers=dict(headers or {}))
    Signer(Credentials(KEY, secret), "s3", "us-east-1").add_auth(req)
    return dict(req.headers)


def test_unsigned_payload(keyed: Mesh, bucket: str) -> None:
    url = f"{keyed.s3}/{bucket}/unsigned"
    h = signed_headers(url, "PUT", "UNSIGNED-PAYLOAD")
    r = requests.put(url, data=b"x" * 1000, headers=h, timeout=10)
    assert r.status_code == 200, r.text
    assert client(keyed).get_object(Bucket=bucket, Key="unsigned")["Body"].read() == b"x" * 1000


def test_signed_payload_must_match_its_hash(keyed: Mesh, bucket: str) -> None:
    import hashlib

    url = f"{keyed.s3}/{bucket}/hashed"
    h = signed_headers(url, "PUT", hashlib.sha256(b"what was signed").hexdigest())
    r = requests.put(url, data=b"what was sent!!", headers=h, timeout=10)
    assert r.status_code == 400 and xml_code(r.content)[0] == "XAmzContentSHA256Mismatch", r.text
    with pytest.raises(ClientError):
        client(keyed).head_object(Bucket=bucket, Key="hashed")


def test_streaming_signed_chunks(keyed: Mesh, bucket: str) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: the seed signature in the header, each chunk's signature
    chained from it; a chunk whose signature does not match fails the upload and stores nothing."""
    import hashlib
    import hmac

    from services.gateway.s3.auth import signing_key

    url = f"{keyed.s3}/{bucket}/streamed"
    data = [os.urandom(70_000), os.urandom(1000)]
    size = sum(map(len, data))

    def body(seed: str, amz_date: str, tamper: bool = False) -> bytes:
        key = signing_key(SECRET, amz_date[:8], "us-east-1")
        scope = f"{amz_date[:8]}/us-east-1/s3/aws4_request"
        prev, out = seed, b""
        for chunk in [*data, b""]:
            sts = "\n".join(("AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, prev, hashlib.sha256(b"").hexdigest(),
                             hashlib.sha256(chunk).hexdigest()))
            prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
            sent = chunk[:-1] + b"?" if tamper and len(chunk) == 1000 else chunk
            out += f"{len(chunk):x};chunk-signature={prev}\r\n".encode() + sent + b"\r\n"
        return out

    for tamper in (False, True):
        name = f"streamed-{tamper}"
        u = url.replace("streamed", name)
        base = {"Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(size)}
        h = signed_headers(u, "PUT", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", base)
        seed = h["Authorization"].rsplit("Signature=", 1)[1]
        r = requests.put(u, data=body(seed, h["X-Amz-Date"], tamper), headers=h, timeout=10)
        if not tamper:
            assert r.status_code == 200, r.text
            got = client(keyed).get_object(Bucket=bucket, Key=name)["Body"].read()
            assert got == b"".join(data)
        else:
            assert r.status_code == 403 and xml_code(r.content)[0] == "SignatureDoesNotMatch", r.text
            with pytest.raises(ClientError):
                client(keyed).head_object(Bucket=bucket, Key=name)


def test_wrong_secret_unknown_key_and_no_signature(keyed: Mesh, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        client(keyed, secret="wrong").get_object(Bucket=bucket, Key="dir/a b+c.txt")
    assert code_of(e.value) == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    with pytest.raises(ClientError) as e:
        client(keyed, key="NOSUCHKEY").list_objects_v2(Bucket=bucket)
    assert code_of(e.value) == "InvalidAccessKeyId"
    # No signature at all: AccessDenied.
    with pytest.raises(urllib.error.HTTPError) as h:
        urllib.request.urlopen(f"{keyed.s3}/{bucket}/dir/a%20b%2Bc.txt", timeout=10)
    assert h.value.code == 403
    assert xml_code(h.value.read())[0] == "AccessDenied"
    # Nothing was written by the refused requests.
    with pytest.raises(ClientError):
        client(keyed, secret="wrong").put_object(Bucket=bucket, Key="never", Body=b"x")
    with pytest.raises(ClientError) as e:
        client(keyed).head_object(Bucket=bucket, Key="never")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# boto3 presigns with SigV2 by default (AWSAccessKeyId, Expires, Signature); "s3v4" gives X-Amz-*.
SIGNATURE_VERSIONS = pytest.mark.parametrize("sigv", [None, "s3v4"], ids=["boto3-default-v2", "v4"])


@SIGNATURE_VERSIONS
def test_presigned_get_and_put_with_plain_http_clients(keyed: Mesh, bucket: str, sigv: str | None) -> None:
    s3 = client(keyed, signature_version=sigv)
    key = f"pre/sig ned+{sigv}"
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    assert ("X-Amz-Signature=" in put_url) is (sigv == "s3v4")
    r = requests.put(put_url, data=b"presigned body", timeout=10)
    assert r.status_code == 200, r.text
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    with urllib.request.urlopen(get_url, timeout=10) as resp:
        assert resp.read() == b"presigned body"
    # A tampered query (a longer expiry) or path (another key) no longer matches the signature.
    if sigv == "s3v4":
        tampered = get_url.replace("X-Amz-Expires=300", "X-Amz-Expires=3000")
    else:
        expires = get_url.split("Expires=")[1].split("&")[0]
        tampered = get_url.replace(f"Expires={expires}", f"Expires={int(expires) + 1000}")
    assert tampered != get_url
    r = requests.get(tampered, timeout=10)
    assert r.status_code == 403 and xml_code(r.content)[0] == "SignatureDoesNotMatch", r.text
    s3.put_object(Bucket=bucket, Key="pre/other", Body=b"other")
    r = requests.get(get_url.replace("sig%20ned", "other").replace(f"%2B{sigv}", ""), timeout=10)
    assert r.status_code == 403 and xml_code(r.content)[0] == "SignatureDoesNotMatch", r.text
    # A presigned URL signed with the wrong secret.
    bad = client(keyed, secret="wrong", signature_version=sigv).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key})
    r = requests.get(bad, timeout=10)
    assert r.status_code == 403 and xml_code(r.content)[0] == "SignatureDoesNotMatch"


@SIGNATURE_VERSIONS
def test_presigned_url_expires(keyed: Mesh, bucket: str, sigv: str | None) -> None:
    s3 = client(keyed, signature_version=sigv)
    s3.put_object(Bucket=bucket, Key="soon", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "soon"}, ExpiresIn=1)
    deadline = time.monotonic() + 10
    while True:  # valid until a second has passed, then expired: poll for the change
        r = requests.get(url, timeout=10)
        if r.status_code != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 403
    assert xml_code(r.content) == ("AccessDenied", "Request has expired")


def test_request_time_too_skewed(keyed: Mesh, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime

    import botocore.auth

    an_hour_ago = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: an_hour_ago)
    url = f"{keyed.s3}/{bucket}?list-type=2"
    r = requests.get(url, headers=signed_headers(url, "GET", hashlib.sha256(b"").hexdigest()), timeout=10)
    assert r.status_code == 403 and xml_code(r.content)[0] == "RequestTimeTooSkewed", r.text


def test_aws_cli_and_s3cmd_sign_with_the_keys(keyed: Mesh, bucket: str, tmp_path: Any) -> None:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(200_000))

    def aws(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
        return subprocess.run([os.path.join(BIN, "aws"), "--endpoint-url", keyed.s3, *args], capture_output=True,
                              text=True, env=dict(env, AWS_SECRET_ACCESS_KEY=secret), timeout=120)

    done = aws("s3", "cp", str(src), f"s3://{bucket}/cli/f.bin")
    assert done.returncode == 0, done.stderr
    done = aws("s3api", "head-object", "--bucket", bucket, "--key", "cli/f.bin")
    assert done.returncode == 0 and '"ContentLength": 200000' in done.stdout, done.stderr
    done = aws("s3", "ls", f"s3://{bucket}/cli/", secret="wrong")
    assert done.returncode != 0 and "SignatureDoesNotMatch" in done.stderr
    done = aws("s3", "presign", f"s3://{bucket}/cli/f.bin", "--expires-in", "60")
    assert done.returncode == 0, done.stderr
    with urllib.request.urlopen(done.stdout.strip(), timeout=10) as r:
        assert r.read() == src.read_bytes()

    host = keyed.url.removeprefix("http://") + "/s3"
    for secret, ok in ((SECRET, True), ("wrong", False)):
        cfg = tmp_path / "s3cfg"
        cfg.write_text(f"[default]\naccess_key = {KEY}\nsecret_key = {secret}\nhost_base = {host}\n"
                       f"host_bucket = {host}\nuse_https = False\nsignature_v2 = False\n")
        s3cmd = [os.path.join(os.path.dirname(sys.executable), "s3cmd"), "-c", str(cfg)]
        put = subprocess.run([*s3cmd, "put", str(src), f"s3://{bucket}/s3cmd/f.bin"], capture_output=True,
                             text=True, timeout=60)
        assert (put.returncode == 0) is ok, put.stdout + put.stderr
        if ok:
            got = subprocess.run([*s3cmd, "get", "--force", f"s3://{bucket}/s3cmd/f.bin", str(tmp_path / "g")],
                                 capture_output=True, text=True, timeout=60)
            assert got.returncode == 0, got.stderr
            assert (tmp_path / "g").read_bytes() == src.read_bytes()


def test_native_api_is_not_affected(keyed: Mesh, bucket: str) -> None:
    with urllib.request.urlopen(f"{keyed.url}/v1/buckets?provider=ais", timeout=10) as r:
        assert r.status == 200


def test_the_secret_is_not_shown_by_the_cluster_config(keyed: Mesh) -> None:
    with urllib.request.urlopen(f"{keyed.url}/v1/cluster?what=config", timeout=10) as r:
        assert SECRET.encode() not in r.read()


def test_launcher_refuses_half_a_key_pair(tmp_path: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISMESH_S3_")}
    done = subprocess.run([os.path.join(BIN, "aismesh"), "up", "--data", str(tmp_path), "--s3-access-key", "AK"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2
    assert "--s3-secret-key" in done.stderr


def test_rclone_go_sdk_signs_with_the_keys(keyed: Mesh, bucket: str, tmp_path: Any) -> None:
    """rclone (the Go AWS SDK) signs with the keys: a multipart upload and a read succeed; a wrong
    secret is refused."""
    import shutil

    if shutil.which("rclone") is None:
        if os.environ.get("CI"):
            pytest.fail("rclone is not installed: make tools-s3 did not install it")
        pytest.skip("rclone is not installed (make tools-s3)")
    src = tmp_path / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(os.urandom(12 << 20))
    (src / "small.txt").write_bytes(b"small")

    def rclone(*args: str, secret: str = SECRET) -> subprocess.CompletedProcess[str]:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
               "RCLONE_CONFIG": str(tmp_path / "rclone.conf"), "RCLONE_CONFIG_AIS_TYPE": "s3",
               "RCLONE_CONFIG_AIS_PROVIDER": "Other", "RCLONE_CONFIG_AIS_ENDPOINT": keyed.s3,
               "RCLONE_CONFIG_AIS_ACCESS_KEY_ID": KEY, "RCLONE_CONFIG_AIS_SECRET_ACCESS_KEY": secret,
               "RCLONE_CONFIG_AIS_FORCE_PATH_STYLE": "true", "RCLONE_CONFIG_AIS_REGION": "us-east-1"}
        return subprocess.run(["rclone", "--retries", "1", "--low-level-retries", "1", "--s3-chunk-size", "5M",
                               "--s3-upload-cutoff", "5M", *args], capture_output=True, text=True, timeout=120,
                              env=env)

    done = rclone("copy", str(src), f"ais:{bucket}/rc")
    assert done.returncode == 0, done.stderr
    done = rclone("cat", f"ais:{bucket}/rc/small.txt")
    assert done.returncode == 0 and done.stdout == "small", done.stderr
    done = rclone("check", str(src), f"ais:{bucket}/rc")
    assert done.returncode == 0, done.stderr
    done = rclone("ls", f"ais:{bucket}/rc", secret="wrong")
    assert done.returncode != 0 and "SignatureDoesNotMatch" in done.stderr


def test_unsigned_amz_headers_are_refused(keyed: Mesh, bucket: str) -> None:
    """A presigned PUT cannot be turned into a copy of something its holder cannot read."""
    s3 = client(keyed, signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="secret", Body=b"not yours")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "drop"}, ExpiresIn=60)
    r = requests.put(url, data=b"", headers={"x-amz-copy-source": f"/{bucket}/secret"}, timeout=10)
    assert r.status_code == 403 and xml_code(r.content)[0] == "AccessDenied", r.text
    assert b"x-amz-copy-source" in r.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="drop")


def test_keys_live_in_etcd_and_change_at_run_time(keyed: Mesh, bucket: str) -> None:
    """The pair is in the cluster config in etcd (etcdctl shows it); changing it there through the
    native API's set-config reaches every gateway worker: the new pair works, the old is refused."""
    import json

    got = subprocess.run([os.path.join(BIN, "etcdctl"), f"--endpoints={keyed.etcd}", "get", "/ais/config",
                          "--print-value-only"], capture_output=True, text=True, timeout=30)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["s3_auth"] == {"access_key": KEY, "secret_key": SECRET}

    def set_keys(access: str, secret: str) -> None:
        body = {"action": "set-config", "value": {"s3_auth": {"access_key": access, "secret_key": secret}}}
        r = requests.put(f"{keyed.url}/v1/cluster", json=body, timeout=10)
        assert r.status_code == 200, r.text

    def works(key: str, secret: str) -> bool:
        try:
            client(keyed, key=key, secret=secret).head_bucket(Bucket=bucket)
            return True
        except ClientError:
            return False

    try:
        set_keys("NEWKEY", "new-secret")
        wait_for("every worker takes the new pair", lambda: all(works("NEWKEY", "new-secret") for _ in range(8)))
        assert not works(KEY, SECRET)
        # Half a pair is refused and changes nothing.
        r = requests.put(f"{keyed.url}/v1/cluster", timeout=10,
                         json={"action": "set-config", "value": {"s3_auth": {"access_key": "ONLY"}}})
        assert r.status_code == 400 and "secret_key" in r.text
        assert works("NEWKEY", "new-secret")
    finally:
        set_keys(KEY, SECRET)
    wait_for("every worker is back on the old pair", lambda: all(works(KEY, SECRET) for _ in range(8)))
