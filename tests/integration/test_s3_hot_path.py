"""The S3 hot path (services/gateway/s3/hot.py) answers exactly as the Flask route does.

Two gateway apps in this process, one with the hot path and one without, over the same running
mesh: every request below goes to both, and status, headers and body must match (but for the
request id and the clock). A counter on Flask's before_request shows which path served it.
"""

from __future__ import annotations

import base64
import re
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import Client

from services.gateway.app import create_app
from services.gateway.s3.hot import takes
from tests.integration.conftest import Mesh

_VARYING = {"Date", "x-amz-request-id", "Server"}
_RID = re.compile(rb"<RequestId>[0-9A-F]*</RequestId>")


def _metadata_addr(mesh: Mesh) -> str:
    return next(s["addr"] for s in mesh.status()["services"] if s["kind"] == "metadata")


@pytest.fixture(scope="module")
def apps(mesh: Mesh) -> Iterator[tuple[Flask, Flask, list[str]]]:
    addr = _metadata_addr(mesh)
    hot = create_app([addr], wait_ready_s=10.0, hot_path=True)
    plain = create_app([addr], wait_ready_s=10.0, hot_path=False)
    through_flask: list[str] = []

    @hot.before_request
    def _count() -> None:
        through_flask.append("flask")

    yield hot, plain, through_flask
    for app in (hot, plain):
        app.extensions["aismesh.config"].stop()
        app.extensions["aismesh.cluster"].close()


def _answer(app: Flask, method: str, path: str, **kw: Any) -> tuple[int, dict[str, str], bytes]:
    resp = Client(app).open(path, method=method, **kw)
    headers = {k: v for k, v in resp.headers.items() if k not in _VARYING}
    return resp.status_code, headers, _RID.sub(b"<RequestId/>", resp.get_data())


def _same(apps: tuple[Flask, Flask, list[str]], method: str, path: str, hot: bool = True,
          **kw: Any) -> tuple[int, dict[str, str], bytes]:
    hot_app, plain_app, through_flask = apps
    through_flask.clear()
    got = _answer(hot_app, method, path, **kw)
    assert through_flask == ([] if hot else ["flask"]), f"{method} {path}: served by the wrong path"
    want = _answer(plain_app, method, path, **kw)
    assert got == want, f"{method} {path}"
    return got


@pytest.fixture(scope="module")
def bucket(apps: tuple[Flask, Flask, list[str]]) -> str:
    name = "hot-path"
    assert _same(apps, "PUT", f"/s3/{name}", hot=False)[0] == 200
    return name


def test_put_get_head_answer_alike(apps: tuple[Flask, Flask, list[str]], bucket: str) -> None:
    body = b"hot path " * 500
    status, headers, _ = _same(apps, "PUT", f"/s3/{bucket}/obj", data=body,
                               headers={"Content-Type": "text/plain", "x-amz-meta-color": "blue"})
    assert status == 200 and headers["ETag"]
    status, headers, got = _same(apps, "GET", f"/s3/{bucket}/obj")
    assert (status, got, headers["x-amz-meta-color"], headers["Content-Type"]) == (200, body, "blue", "text/plain")
    status, headers, got = _same(apps, "GET", f"/s3/{bucket}/obj", headers={"Range": "bytes=9-17"})
    assert (status, got, headers["Content-Range"]) == (206, body[9:18], f"bytes 9-17/{len(body)}")
    status, headers, got = _same(apps, "HEAD", f"/s3/{bucket}/obj")
    assert (status, got, headers["Content-Length"]) == (200, b"", str(len(body)))
    etag = headers["ETag"]
    assert _same(apps, "GET", f"/s3/{bucket}/obj", headers={"If-None-Match": etag})[0] == 304
    assert _same(apps, "GET", f"/s3/{bucket}/obj", headers={"If-Match": '"other"'})[0] == 412
    assert _same(apps, "HEAD", f"/s3/{bucket}/obj", headers={"If-None-Match": etag})[0] == 304


def test_errors_answer_alike(apps: tuple[Flask, Flask, list[str]], bucket: str) -> None:
    status, _, doc = _same(apps, "GET", f"/s3/{bucket}/missing")
    assert status == 404 and b"<Code>NoSuchKey</Code>" in doc
    assert _same(apps, "HEAD", f"/s3/{bucket}/missing")[:3:2] == (404, b"")
    status, _, doc = _same(apps, "GET", "/s3/no-such-bucket-here/k")
    assert status == 404 and b"<Code>NoSuchBucket</Code>" in doc
    _same(apps, "PUT", f"/s3/{bucket}/ranged", data=b"0123456789")
    status, _, doc = _same(apps, "GET", f"/s3/{bucket}/ranged", headers={"Range": "bytes=50-60"})
    assert status == 416 and b"<Code>InvalidRange</Code>" in doc
    status, _, doc = _same(apps, "PUT", f"/s3/{bucket}/bad-md5", data=b"x", headers={"Content-MD5": "nope"})
    assert status == 400 and b"<Code>InvalidDigest</Code>" in doc
    status, _, doc = _same(apps, "PUT", f"/s3/{bucket}/ranged", data=b"y", headers={"If-None-Match": "*"})
    assert status == 412 and b"<Code>PreconditionFailed</Code>" in doc
    # a checksum header that does not match the body: refused, nothing stored
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()
    status, _, doc = _same(apps, "PUT", f"/s3/{bucket}/ranged", data=b"z", headers={"x-amz-checksum-crc32": wrong})
    assert status == 400 and b"BadDigest" in doc
    assert _same(apps, "GET", f"/s3/{bucket}/ranged")[2] == b"0123456789"


def test_checksums_answer_alike(apps: tuple[Flask, Flask, list[str]], bucket: str) -> None:
    data = b"checked body"
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    status, headers, _ = _same(apps, "PUT", f"/s3/{bucket}/crc", data=data, headers={"x-amz-checksum-crc32": crc})
    assert status == 200 and headers["x-amz-checksum-crc32"] == crc
    status, headers, got = _same(apps, "GET", f"/s3/{bucket}/crc", headers={"x-amz-checksum-mode": "ENABLED"})
    assert (status, got, headers["x-amz-checksum-crc32"]) == (200, data, crc)


def test_delete_marker_answers_alike(apps: tuple[Flask, Flask, list[str]]) -> None:
    name = "hot-path-versions"
    _same(apps, "PUT", f"/s3/{name}", hot=False)
    doc = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
           b"<Status>Enabled</Status></VersioningConfiguration>")
    assert _same(apps, "PUT", f"/s3/{name}?versioning", hot=False, data=doc)[0] == 200
    hot_app = apps[0]
    put = Client(hot_app).put(f"/s3/{name}/k", data=b"v1")  # each PUT is a version of its own id
    assert put.status_code == 200 and put.headers["x-amz-version-id"]
    assert Client(hot_app).delete(f"/s3/{name}/k").status_code == 204  # on top: a delete marker
    status, headers, doc = _same(apps, "GET", f"/s3/{name}/k")
    assert (status, headers["x-amz-delete-marker"]) == (404, "true") and b"NoSuchKey" in doc


def _via_flask(apps: tuple[Flask, Flask, list[str]], method: str, path: str, **kw: Any) -> Any:
    hot_app, _, through_flask = apps
    through_flask.clear()
    resp = Client(hot_app).open(path, method=method, **kw)
    assert through_flask == ["flask"], f"{method} {path}"
    return resp


def test_requests_the_hot_path_leaves_to_flask(apps: tuple[Flask, Flask, list[str]], bucket: str) -> None:
    _same(apps, "PUT", f"/s3/{bucket}/src", data=b"copied")
    assert _via_flask(apps, "PUT", f"/s3/{bucket}/dst", headers={"x-amz-copy-source": f"/{bucket}/src"}
                      ).status_code == 200
    got = _via_flask(apps, "GET", f"/s3/{bucket}/src?response-content-type=text/x-a")
    assert (got.headers["Content-Type"], got.get_data()) == ("text/x-a", b"copied")
    assert _via_flask(apps, "GET", f"/s3/{bucket}").status_code == 200  # a listing, not an object
    assert _via_flask(apps, "DELETE", f"/s3/{bucket}/dst").status_code == 204


@pytest.mark.parametrize(("method", "path", "query", "extra", "taken"), [
    ("GET", "/s3/b/k", "", {}, True),
    ("HEAD", "/s3/b/k/deeper", "", {}, True),
    ("PUT", "/s3/b/k", "", {}, True),
    ("PUT", "/s3/b/k", "", {"HTTP_X_AMZ_COPY_SOURCE": "/b/j"}, False),
    ("GET", "/s3/b/k", "versionId=1", {}, False),
    ("DELETE", "/s3/b/k", "", {}, False),
    ("POST", "/s3/b/k", "", {}, False),
    ("GET", "/v1/objects/b/k", "", {}, False),
    ("GET", "/s3", "", {}, False),
])
def test_takes(method: str, path: str, query: str, extra: dict[str, str], taken: bool) -> None:
    assert takes({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, **extra}) is taken
