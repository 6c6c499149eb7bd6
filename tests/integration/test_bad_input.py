"""Input no well-behaved client sends: every one is a 4xx in the dialect of the API called, and nothing
is lost or half-written. Raw sockets where boto3 and requests cannot send the bad input."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration
LIMIT = 4 << 20  # the bound on XML and JSON bodies parsed in memory
OLD = b"the old bytes, intact"
HUGE = "99999999999999999999999"


# --- raw HTTP -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def s3_code(self) -> str:
        found = re.search(rb"<Code>(.*?)</Code>", self.body)
        return found.group(1).decode() if found else ""

    @property
    def s3_message(self) -> str:
        found = re.search(rb"<Message>(.*?)</Message>", self.body, re.S)
        return found.group(1).decode() if found else ""

    @property
    def ais_message(self) -> str:
        doc = json.loads(self.body)
        assert doc["status"] == self.status
        return str(doc["message"])


def _connect(mesh: Any) -> socket.socket:
    url = urlsplit(mesh.url)
    return socket.create_connection((url.hostname, url.port), timeout=20)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: aismesh", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def _answer(sock: socket.socket, method: str) -> Answer:
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())


def exchange(mesh: Any, method: str, path: str, headers: dict[str, str], body: bytes = b"", *,
             half_close: bool = False) -> Answer:
    """Send exactly these bytes (optionally ending our side of the connection), read the answer."""
    with _connect(mesh) as sock:
        sock.sendall(_head(method, path, headers) + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        return _answer(sock, method)


def send_and_close(mesh: Any, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
    """Send a request cut off mid-body and close the socket: the client will never see the answer."""
    with _connect(mesh) as sock:
        sock.sendall(_head(method, path, headers) + body)


def _gateway_log(mesh: Any) -> str:
    return os.path.join(mesh.data, "logs", "gateway.log")


def log_mark(mesh: Any) -> int:
    """Where the gateway's log ends now: ``logged_status`` reads only what comes after."""
    return os.path.getsize(_gateway_log(mesh))


def logged_status(mesh: Any, mark: int, method: str, path: str, timeout: float = 20.0) -> int:
    """The status the gateway logged for a request to ``path`` after ``mark`` (polled with a deadline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(_gateway_log(mesh), "rb") as f:
            f.seek(mark)
            for line in f.read().decode(errors="replace").splitlines():
                if f'"path": "{path}"' in line and f'"method": "{method}"' in line:
                    return int(json.loads(line)["status"])
        time.sleep(0.1)
    raise AssertionError(f"the gateway logged no answer to {method} {path} within {timeout} s")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


# --- fixtures -------------------------------------------------------------------------------


@dataclass
class Target:
    """One object through one API: its path on the wire and how the API words errors."""

    api: str  # "s3" | "native"
    bucket: str
    key: str

    @property
    def path(self) -> str:
        if self.api == "s3":
            return f"/s3/{self.bucket}/{self.key}"
        return f"/v1/objects/{self.bucket}/{self.key}?provider=ais"

    @property
    def logged_path(self) -> str:
        return self.path.split("?", 1)[0]

    def url(self, mesh: Any) -> str:
        return mesh.url + self.path


@pytest.fixture(params=["s3", "native"])
def target(request: pytest.FixtureRequest, s3: Any, bucket: str) -> Iterator[Target]:
    """An object holding OLD, reached through the S3 or the native API."""
    key = f"obj-{os.urandom(4).hex()}"
    s3.put_object(Bucket=bucket, Key=key, Body=OLD)
    yield Target(api=request.param, bucket=bucket, key=key)


def assert_intact(s3: Any, t: Target) -> None:
    assert s3.get_object(Bucket=t.bucket, Key=t.key)["Body"].read() == OLD


def assert_client_error(t: Target, ans: Answer, s3_code: str, words: str, status: int = 400) -> None:
    """The answer is ``status`` in the API's dialect, and its message says ``words``."""
    assert ans.status == status, ans.body[:500]
    if t.api == "s3":
        assert ans.s3_code == s3_code, ans.body[:500]
        assert words.lower() in ans.s3_message.lower(), ans.s3_message
    else:
        assert words.lower() in ans.ais_message.lower(), ans.body[:500]


def s3_error(call: Any, **kw: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as e:
        call(**kw)
    err = e.value.response
    return err["Error"].get("Code", ""), err["ResponseMetadata"]["HTTPStatusCode"], err["Error"].get("Message", "")


# --- 1. Range numbers beyond 64 bits ----------------------------------------------------------


@pytest.mark.parametrize("spec", [f"{HUGE}-", f"{HUGE}-{HUGE}9", f"{'9' * 5000}-"])
def test_range_start_beyond_int64_is_unsatisfiable(mesh: Any, target: Target, spec: str) -> None:
    resp = requests.get(target.url(mesh), headers={"Range": f"bytes={spec}"}, timeout=10)
    ans = Answer(resp.status_code, dict(resp.headers), resp.content)
    assert_client_error(target, ans, "InvalidRange", "range", status=416)


@pytest.mark.parametrize(("spec", "expected"), [
    (f"0-{HUGE}", OLD),
    (f"4-{'9' * 5000}", OLD[4:]),
    (f"-{HUGE}", OLD),
    (f"-{'9' * 5000}", OLD),
])
def test_range_end_or_suffix_beyond_int64_is_the_object(mesh: Any, target: Target, spec: str,
                                                         expected: bytes) -> None:
    resp = requests.get(target.url(mesh), headers={"Range": f"bytes={spec}"}, timeout=10)
    assert resp.status_code == 206, resp.text
    assert resp.content == expected
    assert resp.headers["Content-Range"] == f"bytes {len(OLD) - len(expected)}-{len(OLD) - 1}/{len(OLD)}"


# --- 2. Content-Length beyond 64 bits -----------------------------------------------------------


@pytest.mark.parametrize("length", [str(1 << 64), HUGE])
def test_content_length_beyond_int64(mesh: Any, s3: Any, target: Target, length: str) -> None:
    ans = exchange(mesh, "PUT", target.path, {"Content-Length": length}, b"new")
    assert_client_error(target, ans, "InvalidArgument", "Content-Length")
    assert_intact(s3, target)


@pytest.mark.parametrize("length", ["-1", "abc", "1e3", "9" * 5000])
def test_content_length_not_a_number(mesh: Any, s3: Any, target: Target, length: str) -> None:
    # The HTTP server refuses these before the gateway sees them: a 400 all the same.
    ans = exchange(mesh, "PUT", target.path, {"Content-Length": length}, b"new")
    assert ans.status == 400
    assert_intact(s3, target)


@pytest.mark.parametrize("decoded", [HUGE, "9" * 5000, "12abc", "-5"])
def test_decoded_content_length_not_an_int64(mesh: Any, s3: Any, bucket: str, decoded: str) -> None:
    t = Target("s3", bucket, "aws-chunked")
    s3.put_object(Bucket=bucket, Key=t.key, Body=OLD)
    payload = chunk(b"new") + b"0\r\n\r\n"
    ans = exchange(mesh, "PUT", t.path, {
        "Content-Length": str(len(payload)), "Content-Encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-decoded-content-length": decoded,
    }, payload)
    assert_client_error(t, ans, "InvalidArgument", "x-amz-decoded-content-length")
    assert_intact(s3, t)


def test_upload_part_content_length_beyond_int64(mesh: Any, s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    try:
        ans = exchange(mesh, "PUT", f"/s3/{bucket}/mpu?partNumber=1&uploadId={up}", {"Content-Length": HUGE})
        assert (ans.status, ans.s3_code) == (400, "InvalidArgument")
        assert "Content-Length" in ans.s3_message
        assert s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up).get("Parts", []) == []
    finally:
        s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up)


# --- 3. Part numbers and other integers in query strings ----------------------------------------


@pytest.fixture
def upload(s3: Any, bucket: str) -> Iterator[tuple[str, str]]:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    yield bucket, up
    s3.abort_multipart_upload(Bucket=bucket, Key="mpu", UploadId=up)


@pytest.mark.parametrize("number", ["9" * 20, "0", "10001", "-1", "1.5", "abc", "", " 1", "\u0661"])
def test_part_number_out_of_range(mesh: Any, s3: Any, upload: tuple[str, str], number: str) -> None:
    bucket, up = upload
    resp = requests.put(f"{mesh.s3}/{bucket}/mpu", params={"partNumber": number, "uploadId": up}, data=b"x",
                        timeout=10)
    assert resp.status_code == 400, resp.text
    assert "<Code>InvalidArgument</Code>" in resp.text
    assert "Part number must be an integer between 1 and 10000" in resp.text
    assert s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up).get("Parts", []) == []


def test_part_number_of_5000_digits(mesh: Any, s3: Any, upload: tuple[str, str]) -> None:
    bucket, up = upload
    resp = requests.put(f"{mesh.s3}/{bucket}/mpu", params={"partNumber": "9" * 5000, "uploadId": up}, data=b"x",
                        timeout=10)
    # Longer than the HTTP server's request line limit (414 from it); never a 500.
    assert 400 <= resp.status_code < 500
    assert s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up).get("Parts", []) == []


@pytest.mark.parametrize("number", ["9" * 5000, "9" * 20, "0", "x"])
def test_complete_with_bad_part_number(mesh: Any, s3: Any, upload: tuple[str, str], number: str) -> None:
    bucket, up = upload
    etag = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=up, PartNumber=1, Body=b"x")["ETag"]
    doc = (f"<CompleteMultipartUpload><Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
           "</CompleteMultipartUpload>")
    resp = requests.post(f"{mesh.s3}/{bucket}/mpu", params={"uploadId": up}, data=doc, timeout=10)
    assert resp.status_code == 400, resp.text
    assert "<Code>InvalidArgument</Code>" in resp.text and "Part number must be" in resp.text
    assert s3_error(s3.head_object, Bucket=bucket, Key="mpu")[1] == 404


@pytest.mark.parametrize("query", [{"max-keys": "-1"}, {"max-keys": "\u0661"}, {"max-keys": " 5"},
                                   {"max-keys": "1_0"}, {"max-keys": "1e3"}])
def test_max_keys_not_a_number(mesh: Any, bucket: str, query: dict[str, str]) -> None:
    resp = requests.get(f"{mesh.s3}/{bucket}", params={"list-type": "2", **query}, timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text, resp.text
    assert "<ArgumentName>max-keys</ArgumentName>" in resp.text


def test_max_keys_beyond_int64_is_capped(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    listed = s3.list_objects_v2(Bucket=bucket, MaxKeys=10**30)
    assert listed["MaxKeys"] == 1000 and [o["Key"] for o in listed["Contents"]] == ["k"]


@pytest.mark.parametrize(("name", "value"), [("max-parts", "abc"), ("max-parts", "-1"),
                                             ("part-number-marker", "x"), ("part-number-marker", "1.5")])
def test_list_parts_numbers(mesh: Any, upload: tuple[str, str], name: str, value: str) -> None:
    bucket, up = upload
    resp = requests.get(f"{mesh.s3}/{bucket}/mpu", params={"uploadId": up, name: value}, timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidArgument</Code>" in resp.text, resp.text
    assert f"<ArgumentName>{name}</ArgumentName>" in resp.text


def test_list_parts_pages(s3: Any, upload: tuple[str, str]) -> None:
    bucket, up = upload
    for n in (1, 2, 3):
        s3.upload_part(Bucket=bucket, Key="mpu", UploadId=up, PartNumber=n, Body=b"x")
    first = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2] and first["IsTruncated"]
    rest = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up, MaxParts=2,
                         PartNumberMarker=first["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and not rest["IsTruncated"]
    huge = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up, MaxParts=10**30, PartNumberMarker=10**30)
    assert huge.get("Parts", []) == []


def test_max_uploads_not_a_number(mesh: Any, bucket: str) -> None:
    resp = requests.get(f"{mesh.s3}/{bucket}", params={"uploads": "", "max-uploads": "many"}, timeout=10)
    assert resp.status_code == 400 and "<ArgumentName>max-uploads</ArgumentName>" in resp.text, resp.text


# --- 4. Object names that are not UTF-8 -------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_native_name_not_utf8(mesh: Any, s3: Any, bucket: str, method: str) -> None:
    resp = requests.request(method, f"{mesh.url}/v1/objects/{bucket}/a%ff%fe?provider=ais", data=b"x", timeout=10)
    assert resp.status_code == 400, resp.text
    doc = resp.json()
    assert doc["status"] == 400 and "UTF-8" in doc["message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_native_head_name_not_utf8(mesh: Any, bucket: str) -> None:
    resp = requests.head(f"{mesh.url}/v1/objects/{bucket}/%ff?provider=ais", timeout=10)
    assert resp.status_code == 400 and "UTF-8" in json.loads(resp.headers["Hdr-Error"])["message"]


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_s3_name_not_utf8(mesh: Any, s3: Any, bucket: str, method: str) -> None:
    resp = requests.request(method, f"{mesh.s3}/{bucket}/a%ff", data=b"x", timeout=10)
    assert resp.status_code == 400 and "<Code>InvalidURI</Code>" in resp.text, resp.text
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# --- 5. list-objects messages with the wrong types --------------------------------------------


def _list(mesh: Any, bucket: str, value_json: str) -> requests.Response:
    body = '{"action": "list", "name": "", "value": ' + value_json + "}"
    return requests.get(f"{mesh.url}/v1/buckets/{bucket}?provider=ais", data=body,
                        headers={"Content-Type": "application/json"}, timeout=10)


@pytest.mark.parametrize(("value", "field"), [
    ("[1, 2]", "value"), ('"abc"', "value"), ("5", "value"), ("true", "value"),
    *[(f'{{"pagesize": {bad}}}', "pagesize")
      for bad in ("1.5", "true", "Infinity", "-Infinity", "1e400", "NaN", "-1", '"abc"', '"10"', "[]",
                  str(1 << 63))],
    *[(f'{{"flags": {bad}}}', "flags")
      for bad in ("1.5", "false", "Infinity", "1e400", "NaN", "-1", '"abc"', '"-1"', '"1e3"', "{}",
                  str(1 << 64))],
    ('{"prefix": 5}', "prefix"), ('{"props": ["name"]}', "props"), ('{"continuation_token": {}}', "continuation_token"),
])
def test_list_objects_field_of_the_wrong_type(mesh: Any, bucket: str, value: str, field: str) -> None:
    resp = _list(mesh, bucket, value)
    assert resp.status_code == 400, resp.text
    doc = resp.json()
    assert doc["status"] == 400 and f'"{field}"' in doc["message"], doc


def test_list_objects_well_typed_fields(mesh: Any, s3: Any, bucket: str) -> None:
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    resp = _list(mesh, bucket, '{"pagesize": 2, "flags": "16", "props": "name", "prefix": null}')
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert [e["name"] for e in doc["entries"]] == ["a", "b"] and doc["continuation_token"] == "b"
    assert _list(mesh, bucket, '{"flags": 0, "pagesize": 0}').status_code == 200
    assert _list(mesh, bucket, "null").status_code == 200


@pytest.mark.parametrize("action", ['"list"', "5", "[]", "{}"])
def test_action_of_the_wrong_type(mesh: Any, bucket: str, action: str) -> None:
    resp = requests.get(f"{mesh.url}/v1/buckets/{bucket}?provider=ais", data='{"action": ' + action + "}",
                        timeout=10)
    if action == '"list"':
        assert resp.status_code == 200
        return
    assert resp.status_code == 400 and '"action"' in resp.json()["message"], resp.text


def test_create_bucket_props_of_the_wrong_type(mesh: Any, s3: Any) -> None:
    name = f"native-{os.urandom(3).hex()}"
    url = f"{mesh.url}/v1/buckets/{name}?provider=ais"
    try:
        resp = requests.post(url, data=json.dumps({"action": "create-bck", "value": ["not", "props"]}), timeout=10)
        assert resp.status_code == 400 and '"value"' in resp.json()["message"], resp.text
        assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        requests.delete(url, data=json.dumps({"action": "destroy-bck"}), timeout=10)


# --- 6. JSON nested too deep ------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/buckets/{b}?provider=ais", "[" * 100_000),
    ("POST", "/v1/buckets/{b}?provider=ais", "{\"a\":" * 100_000),
    ("GET", "/v1/buckets?provider=ais", "[" * 100_000),
    ("GET", "/v1/buckets/{b}?provider=ais", '{"action": "list", "value": ' + "[" * 100_000),
])
def test_json_nested_too_deep(mesh: Any, bucket: str, method: str, path: str, body: str) -> None:
    resp = requests.request(method, mesh.url + path.format(b=bucket), data=body, timeout=10)
    assert resp.status_code == 400, resp.text
    assert "JSON" in resp.json()["message"]


# --- 7. Chunked bodies cut off or malformed ---------------------------------------------------


CHUNKED = {"Transfer-Encoding": "chunked"}


def test_chunked_body_cut_off_by_closing(mesh: Any, s3: Any, target: Target) -> None:
    mark = log_mark(mesh)
    send_and_close(mesh, "PUT", target.path, CHUNKED, chunk(b"new bytes") + b"100\r\nhalf a chunk")
    assert logged_status(mesh, mark, "PUT", target.logged_path) == 400
    assert_intact(s3, target)


def test_chunked_body_cut_off_half_close(mesh: Any, s3: Any, target: Target) -> None:
    ans = exchange(mesh, "PUT", target.path, CHUNKED, chunk(b"new bytes") + b"100\r\nhalf a chunk",
                   half_close=True)
    assert_client_error(target, ans, "IncompleteBody", "request body")
    assert_intact(s3, target)


@pytest.mark.parametrize("framing", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n", b"3;\x01\r\nabc\r\n"])
def test_chunked_body_malformed(mesh: Any, s3: Any, target: Target, framing: bytes) -> None:
    ans = exchange(mesh, "PUT", target.path, CHUNKED, chunk(b"new bytes") + framing)
    assert_client_error(target, ans, "IncompleteBody", "request body")
    assert_intact(s3, target)


def test_content_length_body_cut_off(mesh: Any, s3: Any, target: Target) -> None:
    ans = exchange(mesh, "PUT", target.path, {"Content-Length": "100"}, b"only some", half_close=True)
    assert_client_error(target, ans, "IncompleteBody", "request body")
    assert_intact(s3, target)


@pytest.mark.parametrize("rest", [b"100\r\nhalf a chunk", b"zz\r\nabc\r\n0\r\n\r\n"])
def test_upload_part_chunked_body_broken(mesh: Any, s3: Any, upload: tuple[str, str], rest: bytes) -> None:
    bucket, up = upload
    for _ in range(10):  # the part must never appear: a race would, now and then
        ans = exchange(mesh, "PUT", f"/s3/{bucket}/mpu?partNumber=1&uploadId={up}", CHUNKED, chunk(b"part") + rest,
                       half_close=True)
        assert (ans.status, ans.s3_code) == (400, "IncompleteBody"), ans.body
        assert s3.list_parts(Bucket=bucket, Key="mpu", UploadId=up).get("Parts", []) == []


# --- 8. aws-chunked bodies cut off or malformed ------------------------------------------------


def aws_chunked(payload: bytes) -> bytes:
    return (f"{len(payload):x};chunk-signature=abc\r\n".encode() + payload + b"\r\n0\r\n"
            b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n")


def _aws_headers(raw_length: int, decoded: int) -> dict[str, str]:
    return {"Content-Length": str(raw_length), "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-decoded-content-length": str(decoded)}


@pytest.fixture
def s3_target(s3: Any, bucket: str) -> Target:
    t = Target("s3", bucket, f"obj-{os.urandom(4).hex()}")
    s3.put_object(Bucket=bucket, Key=t.key, Body=OLD)
    return t


@pytest.mark.parametrize("cut", [5, 40, 1000])
def test_aws_chunked_body_cut_off(mesh: Any, s3: Any, s3_target: Target, cut: int) -> None:
    body = aws_chunked(b"n" * 2000)
    ans = exchange(mesh, "PUT", s3_target.path, _aws_headers(len(body), 2000), body[:cut], half_close=True)
    assert (ans.status, ans.s3_code) == (400, "IncompleteBody"), ans.body
    assert_intact(s3, s3_target)


@pytest.mark.parametrize("body", [b"a" * (70 << 10), b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n",
                                  b"1ffffffffffffffff\r\nabc\r\n"])
def test_aws_chunked_body_malformed(mesh: Any, s3: Any, s3_target: Target, body: bytes) -> None:
    ans = exchange(mesh, "PUT", s3_target.path, _aws_headers(len(body), 3), body)
    assert (ans.status, ans.s3_code) == (400, "InvalidArgument"), ans.body
    assert "aws-chunked" in ans.s3_message
    assert_intact(s3, s3_target)


def test_key_too_long_is_still_key_too_long(s3: Any, bucket: str) -> None:
    assert s3_error(s3.put_object, Bucket=bucket, Key="k" * 1025, Body=b"x")[:2] == ("KeyTooLongError", 400)


# --- 9. Bodies parsed in memory are bounded -----------------------------------------------------


def _chunks_of(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def _delete_doc(key: str, size: int) -> bytes:
    head, tail = f"<Delete><Object><Key>{key}</Key></Object>".encode(), b"</Delete>"
    return head + b" " * (size - len(head) - len(tail)) + tail


def test_delete_objects_body_over_limit_by_length(mesh: Any, s3: Any, s3_target: Target) -> None:
    # Refused on the Content-Length alone: the body is never sent.
    ans = exchange(mesh, "POST", f"/s3/{s3_target.bucket}?delete", {"Content-Length": str(LIMIT + 1)})
    assert (ans.status, ans.s3_code) == (400, "MaxMessageLengthExceeded"), ans.body
    assert "Your request was too big." in ans.s3_message
    assert_intact(s3, s3_target)


def test_delete_objects_chunked_body_over_limit(mesh: Any, s3: Any, s3_target: Target) -> None:
    doc = _delete_doc(s3_target.key, LIMIT + 1)
    resp = requests.post(f"{mesh.s3}/{s3_target.bucket}?delete", data=_chunks_of(doc), timeout=30)
    assert resp.status_code == 400 and "<Code>MaxMessageLengthExceeded</Code>" in resp.text, resp.text
    assert_intact(s3, s3_target)


def test_delete_objects_body_at_limit(mesh: Any, s3: Any, s3_target: Target) -> None:
    resp = requests.post(f"{mesh.s3}/{s3_target.bucket}?delete", data=_delete_doc(s3_target.key, LIMIT), timeout=30)
    assert resp.status_code == 200, resp.text
    assert s3_error(s3.head_object, Bucket=s3_target.bucket, Key=s3_target.key)[1] == 404


def test_complete_multipart_body_over_limit(mesh: Any, s3: Any, upload: tuple[str, str]) -> None:
    bucket, up = upload
    ans = exchange(mesh, "POST", f"/s3/{bucket}/mpu?uploadId={up}", {"Content-Length": str(LIMIT + 1)})
    assert (ans.status, ans.s3_code) == (400, "MaxMessageLengthExceeded"), ans.body
    doc = b"<CompleteMultipartUpload>" + b" " * LIMIT + b"</CompleteMultipartUpload>"
    resp = requests.post(f"{mesh.s3}/{bucket}/mpu", params={"uploadId": up}, data=_chunks_of(doc), timeout=30)
    assert resp.status_code == 400 and "<Code>MaxMessageLengthExceeded</Code>" in resp.text, resp.text


def test_native_action_body_over_limit(mesh: Any, s3: Any, bucket: str) -> None:
    path = f"/v1/buckets/{bucket}?provider=ais"
    ans = exchange(mesh, "DELETE", path, {"Content-Length": str(LIMIT + 1)})
    assert ans.status == 413 and "too large" in ans.ais_message
    doc = b'{"action": "destroy-bck", "value": "' + b"x" * LIMIT + b'"}'
    resp = requests.delete(mesh.url + path, data=_chunks_of(doc), timeout=30)
    assert resp.status_code == 413 and resp.json()["status"] == 413, resp.text
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


# --- 10. Continuation tokens we did not issue ----------------------------------------------------


@pytest.mark.parametrize("token", [
    "abcd", "!!!", "a", "====",
    base64.urlsafe_b64encode(os.urandom(24)).decode(),
    base64.urlsafe_b64encode(b"obj-2").decode(),
    base64.b64encode(b"obj-2").decode(),
])
def test_invalid_continuation_token(s3: Any, bucket: str, token: str) -> None:
    for k in ("obj-1", "obj-2", "obj-3"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    code, status, message = s3_error(s3.list_objects_v2, Bucket=bucket, ContinuationToken=token)
    assert (code, status, message) == ("InvalidArgument", 400, "The continuation token provided is incorrect")


def test_tampered_continuation_token(s3: Any, bucket: str) -> None:
    for k in ("obj-1", "obj-2", "obj-3"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    token = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["NextContinuationToken"]
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=token)
    assert [o["Key"] for o in rest["Contents"]] == ["obj-2", "obj-3"]
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[-1] ^= 1  # the name we issued, one bit off
    for bad in (base64.urlsafe_b64encode(bytes(raw)).decode(), token.rstrip("="), token + "A", " " + token):
        assert s3_error(s3.list_objects_v2, Bucket=bucket, ContinuationToken=bad)[:2] == ("InvalidArgument", 400)


# --- other input that used to be a 500 -------------------------------------------------------------


def test_content_md5_not_ascii(mesh: Any, s3: Any, s3_target: Target) -> None:
    ans = exchange(mesh, "PUT", s3_target.path, {"Content-Length": "3", "Content-MD5": "\xe9t\xe9"}, b"new")
    assert (ans.status, ans.s3_code) == (400, "InvalidDigest"), ans.body
    assert_intact(s3, s3_target)


def test_native_unknown_route_is_ais_json(mesh: Any) -> None:
    resp = requests.get(f"{mesh.url}/v1/nothing-here", timeout=10)
    assert resp.status_code == 404 and resp.json()["status"] == 404, resp.text
    # PATCH (custom metadata) and POST (multipart) on an object are routes now; PROPFIND is not.
    resp = requests.request("PROPFIND", f"{mesh.url}/v1/objects/b/o", timeout=10)
    assert resp.status_code == 405 and resp.json()["status"] == 405, resp.text


def test_s3_method_not_allowed_is_s3_xml(mesh: Any, bucket: str) -> None:
    resp = requests.patch(f"{mesh.s3}/{bucket}/k", timeout=10)
    assert resp.status_code == 405 and "<Code>MethodNotAllowed</Code>" in resp.text, resp.text
