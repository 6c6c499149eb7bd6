"""Every error a client can provoke: S3 code, HTTP status, XML body, and nothing lost."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration


def error_of(call: Any, **kw: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as e:
        call(**kw)
    return e.value.response["Error"].get("Code", ""), e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_missing_bucket(s3: Any) -> None:
    missing = f"missing-{os.urandom(4).hex()}"
    assert error_of(s3.get_object, Bucket=missing, Key="k") == ("NoSuchBucket", 404)
    assert error_of(s3.put_object, Bucket=missing, Key="k", Body=b"x") == ("NoSuchBucket", 404)
    assert error_of(s3.list_objects_v2, Bucket=missing) == ("NoSuchBucket", 404)
    assert error_of(s3.delete_bucket, Bucket=missing) == ("NoSuchBucket", 404)
    assert error_of(s3.head_bucket, Bucket=missing)[1] == 404


def test_missing_key(s3: Any, bucket: str) -> None:
    assert error_of(s3.get_object, Bucket=bucket, Key="nope") == ("NoSuchKey", 404)
    assert error_of(s3.head_object, Bucket=bucket, Key="nope")[1] == 404


def test_existing_bucket(s3: Any, bucket: str) -> None:
    # us-east-1 (the default region): re-creating your own bucket succeeds and changes nothing
    s3.put_object(Bucket=bucket, Key="kept", Body=b"x")
    assert s3.create_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"x"
    # any other region: BucketAlreadyOwnedByYou, as AWS answers there
    assert error_of(s3.create_bucket, Bucket=bucket, CreateBucketConfiguration={
        "LocationConstraint": "eu-west-1"}) == ("BucketAlreadyOwnedByYou", 409)
    s3.delete_object(Bucket=bucket, Key="kept")


def test_create_bucket_with_a_malformed_configuration(mesh: Any) -> None:
    resp = requests.put(f"{mesh.s3}/cfg-{os.urandom(3).hex()}", data=b"<CreateBucketConfiguration>", timeout=10)
    assert resp.status_code == 400 and "<Code>MalformedXML</Code>" in resp.text


@pytest.mark.parametrize("name", ["ab", "UPPER", "bad_name", "x" * 64, "-start", "10.0.0.1"])
def test_invalid_bucket_names(mesh: Any, s3: Any, name: str) -> None:
    resp = requests.put(f"{mesh.s3}/{name}", timeout=10)
    assert resp.status_code == 400
    assert "<Code>InvalidBucketName</Code>" in resp.text
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_non_empty_bucket_is_kept(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="keep", Body=b"data")
    assert error_of(s3.delete_bucket, Bucket=bucket) == ("BucketNotEmpty", 409)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"data"


def test_key_too_long(s3: Any, bucket: str) -> None:
    assert error_of(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"x") == ("KeyTooLongError", 400)
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="k" * 1024)["Body"].read() == b"ok"


def test_error_body_is_s3_xml(mesh: Any, bucket: str) -> None:
    resp = requests.get(f"{mesh.s3}/{bucket}/no-such-key", timeout=10)
    assert resp.status_code == 404
    assert resp.headers["Content-Type"].startswith("application/xml")
    for tag in ("<Code>NoSuchKey</Code>", "<Message>", f"<Resource>/{bucket}/no-such-key</Resource>", "<RequestId>"):
        assert tag in resp.text


def test_bad_content_md5_stores_nothing(mesh: Any, s3: Any, bucket: str) -> None:
    resp = requests.put(f"{mesh.s3}/{bucket}/md5", data=b"hello",
                        headers={"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="}, timeout=10)
    assert resp.status_code == 400 and "<Code>BadDigest</Code>" in resp.text
    assert error_of(s3.head_object, Bucket=bucket, Key="md5")[1] == 404


def test_short_body_stores_nothing(mesh: Any, s3: Any, bucket: str) -> None:
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(mesh.url)
    with socket.create_connection((u.hostname, u.port), timeout=10) as sock:
        sock.sendall(f"PUT /s3/{bucket}/short HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode() + b"abc")
        sock.shutdown(socket.SHUT_WR)
        sock.recv(4096)
    assert error_of(s3.head_object, Bucket=bucket, Key="short")[1] == 404


def test_unsupported_subresource_is_501(mesh: Any, bucket: str) -> None:
    resp = requests.get(f"{mesh.s3}/{bucket}?policy", timeout=10)
    assert resp.status_code == 501 and "<Code>NotImplemented</Code>" in resp.text


def test_an_s3_client_pointed_at_the_root_is_told_where_s3_is(mesh: Any) -> None:
    root = boto3.client("s3", endpoint_url=mesh.url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing", config=Config(s3={"addressing_style": "path"},
                                                                       retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as e:
        root.create_bucket(Bucket="nowhere")
    assert e.value.response["Error"]["Code"] == "InvalidRequest"
    assert f"use {mesh.url}/s3 as the endpoint URL" in e.value.response["Error"]["Message"]
