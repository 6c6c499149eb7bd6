"""S3 versioning through boto3 and the aws CLI: bucket status, every version kept, reads,
copies and deletes by version id, delete markers, suspended buckets, ListObjectVersions paging,
and the TensorFlow rule (a read with a versionId on a never-versioned bucket serves the object)."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from tests.integration.test_rclone import Rclone, rclone  # noqa: F401  (Debian's rclone, configured)
from tests.integration.test_remote_buckets import World, world  # noqa: F401  (a mesh with moto behind aws://)

pytestmark = pytest.mark.integration


def drop_all_versions(s3: Any, name: str) -> None:
    """What a tool that cleans a versioned bucket does: delete every version, then the bucket."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=name, Delete={"Objects": items, "Quiet": True})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def vbucket(s3: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket with versioning enabled; every version removed after the test."""
    name = f"v-{request.node.name.lower().replace('_', '-')[:30].strip('-')}-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    yield name
    drop_all_versions(s3, name)


def code_of(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def test_new_bucket_has_no_status_until_set(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_bad_versioning_configuration_is_malformed_xml(s3: Any, bucket: str, mesh: Any) -> None:
    req = urllib.request.Request(f"{mesh.s3}/{bucket}?versioning", method="PUT",
                                 data=b"<VersioningConfiguration><Status>On</Status></VersioningConfiguration>")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and b"<Code>MalformedXML</Code>" in e.value.read()
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_unversioned_bucket_lists_the_null_version_and_serves_any_version_id(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="plain", Body=b"one")
    put = s3.put_object(Bucket=bucket, Key="plain", Body=b"two")
    assert "VersionId" not in put  # as S3 answers for a bucket that never had versioning
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"], v["Size"]) for v in listed["Versions"]] == [
        ("plain", "null", True, 3)]
    assert "DeleteMarkers" not in listed
    # TensorFlow's s3 client reads every object with versionId=1: AIStore ignores it, so do we here.
    assert s3.get_object(Bucket=bucket, Key="plain", VersionId="1")["Body"].read() == b"two"
    assert s3.head_object(Bucket=bucket, Key="plain", VersionId="1")["ContentLength"] == 3
    assert s3.get_object(Bucket=bucket, Key="plain", VersionId="null")["Body"].read() == b"two"


def test_every_version_is_kept_and_read_by_id(s3: Any, vbucket: str) -> None:
    b = vbucket
    ids = [s3.put_object(Bucket=b, Key="k", Body=body)["VersionId"] for body in (b"v1", b"v2-", b"v3--")]
    assert len(set(ids)) == 3 and all(ids)
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"v3--" and got["VersionId"] == ids[2]
    for vid, body in zip(ids, (b"v1", b"v2-", b"v3--"), strict=True):
        one = s3.get_object(Bucket=b, Key="k", VersionId=vid)
        assert one["Body"].read() == body and one["VersionId"] == vid
        assert s3.head_object(Bucket=b, Key="k", VersionId=vid)["ContentLength"] == len(body)
    ranged = s3.get_object(Bucket=b, Key="k", VersionId=ids[1], Range="bytes=1-2")
    assert ranged["Body"].read() == b"2-" and ranged["ContentRange"] == "bytes 1-2/3"
    listed = s3.list_object_versions(Bucket=b)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [(ids[2], True), (ids[1], False), (ids[0], False)]
    # the native API sees the latest version only
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=b)["Contents"]] == ["k"]


def test_the_native_api_sees_the_latest_version(s3: Any, vbucket: str, mesh: Any) -> None:
    b = vbucket
    s3.put_object(Bucket=b, Key="k", Body=b"old")
    latest = s3.put_object(Bucket=b, Key="k", Body=b"latest")["VersionId"]
    with urllib.request.urlopen(f"{mesh.url}/v1/objects/{b}/k?provider=ais") as r:
        assert r.read() == b"latest" and r.headers["Ais-Version"] == latest
    listed = requests.get(f"{mesh.url}/v1/buckets/{b}?provider=ais", headers={"Content-Type": "application/json"},
                          data=json.dumps({"action": "list", "value": {"props": "name,version"}}), timeout=10)
    entries = listed.json()["entries"]
    assert [(e["name"], e.get("version")) for e in entries] == [("k", latest)]
    s3.delete_object(Bucket=b, Key="k")  # a delete marker: the key is gone for the native API too
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{mesh.url}/v1/objects/{b}/k?provider=ais")
    assert e.value.code == 404


def test_unknown_and_malformed_version_ids(s3: Any, vbucket: str) -> None:
    s3.put_object(Bucket=vbucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId="0" * 20)
    assert code_of(e) == "NoSuchVersion"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=vbucket, Key="k", VersionId="1")
    assert code_of(e) == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=vbucket, Key="k", VersionId="0" * 20)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        s3.delete_object(Bucket=vbucket, Key="k", VersionId="not-a-version")
    assert code_of(e) == "InvalidArgument"


def test_delete_marker_hides_the_key_and_removing_it_restores(s3: Any, vbucket: str) -> None:
    b = vbucket
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"data")["VersionId"]
    deleted = s3.delete_object(Bucket=b, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] not in ("", v1)
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k")
    assert code_of(e) == "NoSuchKey"
    headers = e.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true" and headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=b, Key="k")
    assert e.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k", VersionId=marker)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=b)
    assert s3.get_object(Bucket=b, Key="k", VersionId=v1)["Body"].read() == b"data"
    listed = s3.list_object_versions(Bucket=b)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(v1, False)]
    undo = s3.delete_object(Bucket=b, Key="k", VersionId=marker)
    assert undo["DeleteMarker"] is True and undo["VersionId"] == marker
    assert s3.get_object(Bucket=b, Key="k")["Body"].read() == b"data"


def test_deleting_the_latest_version_makes_the_previous_latest(s3: Any, vbucket: str) -> None:
    b = vbucket
    v1 = s3.put_object(Bucket=b, Key="k", Body=b"old")["VersionId"]
    v2 = s3.put_object(Bucket=b, Key="k", Body=b"new")["VersionId"]
    assert s3.delete_object(Bucket=b, Key="k", VersionId=v2)["VersionId"] == v2
    got = s3.get_object(Bucket=b, Key="k")
    assert got["Body"].read() == b"old" and got["VersionId"] == v1
    s3.delete_object(Bucket=b, Key="k", VersionId=v1)
    assert "Versions" not in s3.list_object_versions(Bucket=b)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=b, Key="k")
    assert code_of(e) == "NoSuchKey"


def test_suspended_bucket_overwrites_the_null_version(s3: Any, vbucket: str) -> None:
    b = vbucket
    kept = s3.put_object(Bucket=b, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
    assert s3.put_object(Bucket=b, Key="k", Body=b"null-1")["VersionId"] == "null"
    assert s3.put_object(Bucket=b, Key="k", Body=b"null-2")["VersionId"] == "null"
    listed = s3.list_object_versions(Bucket=b)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [("null", True), (kept, False)]
    assert s3.get_object(Bucket=b, Key="k", VersionId="null")["Body"].read() == b"null-2"
    gone = s3.delete_object(Bucket=b, Key="k")
    assert gone["DeleteMarker"] is True and gone["VersionId"] == "null"
    assert s3.get_object(Bucket=b, Key="k", VersionId=kept)["Body"].read() == b"kept"


def test_copy_and_multipart_get_version_ids(s3: Any, vbucket: str) -> None:
    b = vbucket
    v1 = s3.put_object(Bucket=b, Key="src", Body=b"first")["VersionId"]
    s3.put_object(Bucket=b, Key="src", Body=b"second")
    copied = s3.copy_object(Bucket=b, Key="dst", CopySource={"Bucket": b, "Key": "src", "VersionId": v1})
    assert copied["VersionId"] and copied["CopySourceVersionId"] == v1
    assert s3.get_object(Bucket=b, Key="dst")["Body"].read() == b"first"
    up = s3.create_multipart_upload(Bucket=b, Key="mp")
    part = s3.upload_part(Bucket=b, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"p" * 100)
    done = s3.complete_multipart_upload(Bucket=b, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["VersionId"] == s3.head_object(Bucket=b, Key="mp")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=b, Key="dst2", CopySource={"Bucket": b, "Key": "src", "VersionId": "0" * 20})
    assert code_of(e) == "NoSuchVersion"


def test_delete_objects_with_version_ids(s3: Any, vbucket: str) -> None:
    b = vbucket
    va = s3.put_object(Bucket=b, Key="a", Body=b"a")["VersionId"]
    s3.put_object(Bucket=b, Key="b", Body=b"b")
    out = s3.delete_objects(Bucket=b, Delete={"Objects": [{"Key": "a", "VersionId": va}, {"Key": "b"},
                                                         {"Key": "c", "VersionId": "bogus"}]})
    by_key = {d["Key"]: d for d in out["Deleted"]}
    assert by_key["a"]["VersionId"] == va and "DeleteMarker" not in by_key["a"]
    assert by_key["b"]["DeleteMarker"] is True and by_key["b"]["DeleteMarkerVersionId"]
    assert [(e["Key"], e["Code"]) for e in out["Errors"]] == [("c", "InvalidArgument")]
    listed = s3.list_object_versions(Bucket=b)
    assert "Versions" in listed and [m["Key"] for m in listed["DeleteMarkers"]] == ["b"]


def test_list_object_versions_pages_with_markers_prefix_and_delimiter(s3: Any, vbucket: str, mesh: Any) -> None:
    b = vbucket
    expected = []
    for key in ("a/1", "a/2", "b-x", "b-y", "c"):
        ids = [s3.put_object(Bucket=b, Key=key, Body=b"x")["VersionId"] for _ in range(3)]
        expected += [(key, vid) for vid in reversed(ids)]
    seen = []
    kwargs: dict[str, str] = {}
    pages = 0
    while True:
        page = s3.list_object_versions(Bucket=b, MaxKeys=4, **kwargs)
        pages += 1
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == expected and pages == 4
    paginated = [(v["Key"], v["VersionId"]) for p in s3.get_paginator("list_object_versions").paginate(
        Bucket=b, PaginationConfig={"PageSize": 5}) for v in p.get("Versions", [])]
    assert paginated == expected
    after_key = s3.list_object_versions(Bucket=b, KeyMarker="b-x")
    assert [v["Key"] for v in after_key["Versions"]] == ["b-y"] * 3 + ["c"] * 3
    rolled = s3.list_object_versions(Bucket=b, Delimiter="-")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["b-"]
    assert {v["Key"] for v in rolled["Versions"]} == {"a/1", "a/2", "c"}
    slash = s3.list_object_versions(Bucket=b, Delimiter="/", Prefix="a")
    assert [p["Prefix"] for p in slash["CommonPrefixes"]] == ["a/"] and "Versions" not in slash
    assert "Versions" not in s3.list_object_versions(Bucket=b, Prefix="nothing")
    encoded = s3.list_object_versions(Bucket=b, Prefix="b-", EncodingType="url")
    assert {v["Key"] for v in encoded["Versions"]} == {"b-x", "b-y"}
    s3.put_object(Bucket=b, Key="d e+f", Body=b"x")
    s3.delete_object(Bucket=b, Key="d e+f")
    raw = urllib.request.urlopen(f"{mesh.s3}/{b}?versions&encoding-type=url&prefix=d%20").read().decode()
    assert raw.count("<Key>d%20e%2Bf</Key>") == 2 and "<Prefix>d%20</Prefix>" in raw
    assert "<EncodingType>url</EncodingType>" in raw and "<DeleteMarker>" in raw
    with pytest.raises(ClientError) as e:
        s3.list_object_versions(Bucket=b, VersionIdMarker=expected[0][1])
    assert code_of(e) == "InvalidArgument"


def test_destroying_a_versioned_bucket_needs_every_version_gone(s3: Any) -> None:
    name = f"v-destroy-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code_of(e) == "BucketNotEmpty"
    drop_all_versions(s3, name)
    s3.create_bucket(Bucket=name)  # the same name again: a new bucket, nothing of the old one
    try:
        assert "Status" not in s3.get_bucket_versioning(Bucket=name)
        assert "Versions" not in s3.list_object_versions(Bucket=name)
    finally:
        s3.delete_bucket(Bucket=name)


def test_aws_cli_versioning(aws_cli: Callable[..., Any], s3: Any, bucket: str) -> None:
    run = aws_cli
    assert run("s3api", "put-bucket-versioning", "--bucket", bucket,
               "--versioning-configuration", "Status=Enabled").returncode == 0
    status = json.loads(run("s3api", "get-bucket-versioning", "--bucket", bucket).stdout)
    assert status["Status"] == "Enabled"
    for body in (b"one", b"two"):
        s3.put_object(Bucket=bucket, Key="k", Body=body)
    s3.delete_object(Bucket=bucket, Key="k")
    listed = json.loads(run("s3api", "list-object-versions", "--bucket", bucket).stdout)
    assert len(listed["Versions"]) == 2 and [m["IsLatest"] for m in listed["DeleteMarkers"]] == [True]
    for v in listed["Versions"] + listed["DeleteMarkers"]:
        assert run("s3api", "delete-object", "--bucket", bucket, "--key", v["Key"],
                   "--version-id", v["VersionId"]).returncode == 0
    after = run("s3api", "list-object-versions", "--bucket", bucket)
    assert after.returncode == 0 and "Versions" not in json.loads(after.stdout or b"{}")


def test_remote_buckets_keep_no_versions_here(world: World) -> None:  # noqa: F811
    name = f"vremote-{os.urandom(3).hex()}"
    world.moto.create_bucket(Bucket=name)
    world.moto.put_object(Bucket=name, Key="k", Body=b"remote")
    world.create("aws", name)
    s3 = world.gw
    assert "Status" not in s3.get_bucket_versioning(Bucket=name)
    for call in (lambda: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"}),
                 lambda: s3.list_object_versions(Bucket=name)):
        with pytest.raises(ClientError) as e:
            call()
        assert code_of(e) == "NotImplemented" and "aws://" in e.value.response["Error"]["Message"]
    # never versioned here: a read with a version id serves the object (the TensorFlow rule)
    assert s3.get_object(Bucket=name, Key="k", VersionId="1")["Body"].read() == b"remote"


def test_rclone_versioning(rclone: Rclone, s3: Any, tmp_path: Any) -> None:  # noqa: F811
    name = f"v-rclone-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    try:
        assert rclone("backend", "versioning", f"ais:{name}").stdout.strip() == "Unversioned"
        assert rclone("backend", "versioning", f"ais:{name}", "Enabled").stdout.strip() == "Enabled"
        local = tmp_path / "f.txt"
        for body in ("one", "two2"):
            local.write_text(body)
            rclone("copyto", str(local), f"ais:{name}/f.txt")
        shown = rclone("lsf", "--s3-versions", f"ais:{name}").stdout.split()
        assert len(shown) == 2 and "f.txt" in shown  # the older one as f-v<time>.txt
        rclone("backend", "cleanup-hidden", f"ais:{name}")  # removes every version but the latest
        assert rclone("lsf", "--s3-versions", f"ais:{name}").stdout.split() == ["f.txt"]
        assert s3.get_object(Bucket=name, Key="f.txt")["Body"].read() == b"two2"
        rclone("delete", f"ais:{name}")
        assert [m["IsLatest"] for m in s3.list_object_versions(Bucket=name)["DeleteMarkers"]] == [True]
    finally:
        drop_all_versions(s3, name)
