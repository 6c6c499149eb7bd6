"""S3 flexible checksums through boto3: each algorithm on PutObject and on multipart uploads,
returned with ChecksumMode=ENABLED; a wrong checksum refused (raw requests), also in an
aws-chunked trailer."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib
from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError

from services.gateway.s3.checksums import checksum_b64, crc64nvme_py
from tests.integration.conftest import Mesh

pytestmark = pytest.mark.integration
ALGORITHMS = ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"]


def expected(alg: str, data: bytes) -> str:
    """The checksum computed independently of the gateway's code where the stdlib can."""
    if alg == "CRC32":
        return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if alg in ("SHA1", "SHA256"):
        return base64.b64encode(hashlib.new(alg.lower(), data).digest()).decode()
    if alg == "CRC64NVME":
        return base64.b64encode(crc64nvme_py(data).to_bytes(8, "big")).decode()
    return checksum_b64(alg.lower(), data)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_put_object_checksum_stored_and_returned(s3: Any, bucket: str, alg: str) -> None:
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="obj", Body=data, ChecksumAlgorithm=alg)
    assert put[f"Checksum{alg}"] == expected(alg, data)
    head = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert head[f"Checksum{alg}"] == expected(alg, data)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got[f"Checksum{alg}"] == expected(alg, data)
    assert got["Body"].read() == data  # botocore validates the body against the checksum, too
    # Without ChecksumMode the checksum is not sent.
    assert f"Checksum{alg}" not in s3.head_object(Bucket=bucket, Key="obj")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_multipart_part_and_composite_checksums(s3: Any, bucket: str, alg: str) -> None:
    parts = [os.urandom(5 << 20), os.urandom(1000)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ChecksumAlgorithm=alg)
    assert up.get("ChecksumAlgorithm") == alg
    listed = []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=n, Body=data,
                           ChecksumAlgorithm=alg)
        assert r[f"Checksum{alg}"] == expected(alg, data)
        listed.append({"PartNumber": n, "ETag": r["ETag"], f"Checksum{alg}": r[f"Checksum{alg}"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": listed})
    raw = b"".join(base64.b64decode(p[f"Checksum{alg}"]) for p in listed)
    composite = f"{expected(alg, raw)}-2"
    assert done[f"Checksum{alg}"] == composite
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head[f"Checksum{alg}"] == composite
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-checksum-type"] == "COMPOSITE"
    got = s3.get_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"".join(parts)


def test_part_checksums_are_kept_listed_and_checked_at_completion(s3: Any, bucket: str) -> None:
    parts = [os.urandom(5 << 20), os.urandom(10)]
    up = s3.create_multipart_upload(Bucket=bucket, Key="kept", ChecksumAlgorithm="CRC32C")
    etags, sums = [], []
    for n, data in enumerate(parts, 1):
        r = s3.upload_part(Bucket=bucket, Key="kept", UploadId=up["UploadId"], PartNumber=n, Body=data,
                           ChecksumAlgorithm="CRC32C")
        etags.append(r["ETag"])
        sums.append(r["ChecksumCRC32C"])
    listed = s3.list_parts(Bucket=bucket, Key="kept", UploadId=up["UploadId"])["Parts"]
    assert [p["ChecksumCRC32C"] for p in listed] == sums
    # A checksum that is not the one the part was uploaded with: InvalidPart, nothing completed.
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(Bucket=bucket, Key="kept", UploadId=up["UploadId"], MultipartUpload={"Parts": [
            {"PartNumber": 1, "ETag": etags[0], "ChecksumCRC32C": sums[1]},
            {"PartNumber": 2, "ETag": etags[1], "ChecksumCRC32C": sums[1]}]})
    assert e.value.response["Error"]["Code"] == "InvalidPart"
    # Listed without checksums: the composite comes from what the parts were uploaded with.
    s3.complete_multipart_upload(Bucket=bucket, Key="kept", UploadId=up["UploadId"], MultipartUpload={"Parts": [
        {"PartNumber": n, "ETag": t} for n, t in enumerate(etags, 1)]})
    raw = b"".join(base64.b64decode(v) for v in sums)
    head = s3.head_object(Bucket=bucket, Key="kept", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == f"{expected('CRC32C', raw)}-2"


def test_upload_file_with_checksums_the_way_s3transfer_does(s3: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 << 20))
    s3.upload_file(str(src), bucket, "big.bin", ExtraArgs={"ChecksumAlgorithm": "SHA256"})
    head = s3.head_object(Bucket=bucket, Key="big.bin", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"].endswith("-2")


def test_wrong_checksum_is_bad_digest_and_stores_nothing(mesh: Mesh, s3: Any, bucket: str) -> None:
    data = b"the payload"
    wrong = expected("CRC32", b"another payload")
    r = requests.put(f"{mesh.s3}/{bucket}/bad", data=data, headers={"x-amz-checksum-crc32": wrong}, timeout=10)
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content, r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad")
    # A value that is not a checksum at all, and two algorithms at once: InvalidRequest.
    r = requests.put(f"{mesh.s3}/{bucket}/bad", data=data, headers={"x-amz-checksum-sha256": "not base64!"},
                     timeout=10)
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content, r.text
    r = requests.put(f"{mesh.s3}/{bucket}/bad", data=data, timeout=10, headers={
        "x-amz-checksum-crc32": expected("CRC32", data), "x-amz-checksum-sha1": expected("SHA1", data)})
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content, r.text
    # The right one is stored.
    r = requests.put(f"{mesh.s3}/{bucket}/good", data=data, headers={"x-amz-checksum-crc32": expected("CRC32", data)},
                     timeout=10)
    assert r.status_code == 200 and r.headers["x-amz-checksum-crc32"] == expected("CRC32", data)


def _chunked(data: bytes, trailer: str) -> bytes:
    """An unsigned aws-chunked body (STREAMING-UNSIGNED-PAYLOAD-TRAILER) with a checksum trailer."""
    return (f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" + trailer.encode() + b"\r\n\r\n")


def test_aws_chunked_trailer_checksum(mesh: Mesh, s3: Any, bucket: str) -> None:
    data = os.urandom(50_000)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32c"}
    good = _chunked(data, f"x-amz-checksum-crc32c:{expected('CRC32C', data)}")
    r = requests.put(f"{mesh.s3}/{bucket}/trailed", data=good, headers=headers, timeout=10)
    assert r.status_code == 200, r.text
    head = s3.head_object(Bucket=bucket, Key="trailed", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == expected("CRC32C", data)
    assert s3.get_object(Bucket=bucket, Key="trailed")["Body"].read() == data
    bad = _chunked(data, f"x-amz-checksum-crc32c:{expected('CRC32C', b'x')}")
    r = requests.put(f"{mesh.s3}/{bucket}/trailed-bad", data=bad, headers=headers, timeout=10)
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content, r.text
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trailed-bad")
    # Declared but missing from the trailer.
    r = requests.put(f"{mesh.s3}/{bucket}/trailed-missing", data=_chunked(data, "x-amz-meta-x:y"),
                     headers=headers, timeout=10)
    assert r.status_code == 400 and b"<Code>InvalidRequest</Code>" in r.content, r.text


def test_aws_cli_checksums(mesh: Mesh, aws_cli: Any, bucket: str, tmp_path: Any) -> None:
    src = tmp_path / "f.bin"
    src.write_bytes(os.urandom(300_000))
    done = aws_cli("s3api", "put-object", "--bucket", bucket, "--key", "cli", "--body", str(src),
                   "--checksum-algorithm", "SHA1")
    assert done.returncode == 0, done.stderr
    done = aws_cli("s3api", "head-object", "--bucket", bucket, "--key", "cli", "--checksum-mode", "ENABLED")
    assert done.returncode == 0, done.stderr
    assert expected("SHA1", src.read_bytes()) in done.stdout.decode()


def test_not_modified_answers_carry_no_checksum(s3: Any, bucket: str) -> None:
    """A 304 has no body to check: with ChecksumMode (boto3 asks by default) it must still parse."""
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"x", ChecksumAlgorithm="CRC32")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch=etag, ChecksumMode="ENABLED")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 304
    assert "x-amz-checksum-crc32" not in e.value.response["ResponseMetadata"]["HTTPHeaders"]


def test_a_checksum_outlived_by_a_native_append_is_not_shown(mesh: Mesh, s3: Any, bucket: str) -> None:
    """The native API's append keeps the custom metadata but changes the bytes: the S3 checksum
    stored for the old bytes is not answered any more (boto3 would refuse the download)."""
    s3.put_object(Bucket=bucket, Key="grows", Body=b"first", ChecksumAlgorithm="SHA256")
    assert "ChecksumSHA256" in s3.head_object(Bucket=bucket, Key="grows", ChecksumMode="ENABLED")
    r = requests.put(f"{mesh.url}/v1/objects/{bucket}/grows?provider=ais&append_type=append", data=b"+more",
                     timeout=10)
    assert r.status_code == 200, r.text
    assert "ChecksumSHA256" not in s3.head_object(Bucket=bucket, Key="grows", ChecksumMode="ENABLED")
    assert s3.get_object(Bucket=bucket, Key="grows", ChecksumMode="ENABLED")["Body"].read() == b"first+more"


@pytest.mark.parametrize("size", [50_000, 3 * (1 << 20) + 1, 12 * (1 << 20) + 3])
def test_trailer_checksum_of_any_size_is_stored(mesh: Mesh, s3: Any, bucket: str, size: int) -> None:
    """The trailer comes after the body: the value goes to the node with the commit, so large
    bodies are not held in memory to learn it first."""
    data = os.urandom(size)
    headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
               "x-amz-decoded-content-length": str(size), "x-amz-trailer": "x-amz-checksum-sha256"}
    body = _chunked(data, f"x-amz-checksum-sha256:{expected('SHA256', data)}")
    r = requests.put(f"{mesh.s3}/{bucket}/big-trailed", data=body, headers=headers, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-sha256"] == expected("SHA256", data)
    head = s3.head_object(Bucket=bucket, Key="big-trailed", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected("SHA256", data) and head["ContentLength"] == size
    # boto3's own upload of the same size, with its default (trailing) checksum
    s3.put_object(Bucket=bucket, Key="boto", Body=data, ChecksumAlgorithm="CRC32")
    assert s3.head_object(Bucket=bucket, Key="boto", ChecksumMode="ENABLED")["ChecksumCRC32"] == expected("CRC32", data)


def test_trailer_checksum_through_grpc_only_nodes(tmp_path: Any) -> None:
    """Without the same-host fast path the body streams over gRPC and the trailer ends it."""
    import boto3

    from tests.integration.conftest import running_mesh

    with running_mesh(str(tmp_path / "mesh"), "--local-socket", "off") as m:
        c = boto3.client("s3", endpoint_url=m.s3, region_name="us-east-1", aws_access_key_id="k",
                         aws_secret_access_key="s")
        c.create_bucket(Bucket="grpc-only")
        data = os.urandom(12 * (1 << 20) + 3)
        headers = {"Content-Encoding": "aws-chunked", "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                   "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32c"}
        good = _chunked(data, f"x-amz-checksum-crc32c:{expected('CRC32C', data)}")
        r = requests.put(f"{m.s3}/grpc-only/o", data=good, headers=headers, timeout=60)
        assert r.status_code == 200, r.text
        head = c.head_object(Bucket="grpc-only", Key="o", ChecksumMode="ENABLED")
        assert head["ChecksumCRC32C"] == expected("CRC32C", data)
        bad = _chunked(data, f"x-amz-checksum-crc32c:{expected('CRC32C', b'x')}")
        r = requests.put(f"{m.s3}/grpc-only/o", data=bad, headers=headers, timeout=60)
        assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content, r.text
        assert c.get_object(Bucket="grpc-only", Key="o")["Body"].read() == data  # the old object stands
