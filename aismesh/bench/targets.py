"""What the benchmark measures: one class per kind of server, all driven over plain HTTP."""

from __future__ import annotations

import http.client
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import quote

S3_HEADERS = {
    # aismesh, moto and SeaweedFS (no identities configured) check no signatures; moto wants one present.
    "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20261122/us-east-1/s3/aws4_request, "
                     "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    "x-amz-date": "20261122T000000Z",
    "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
}


class SetupError(RuntimeError):
    pass


def call(host: str, port: int, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@dataclass
class Target:
    """A server that takes GETs (and PUTs unless get_only) of objects of one size."""

    name: str
    host: str
    port: int
    headers: dict[str, str] = field(default_factory=dict)
    get_only: bool = False
    skipped: str = ""
    # Plain HTTP GET/PUT of a path (wrk can drive it); False: the SDK-level cells, Python client only.
    raw_http: ClassVar[bool] = True

    def object_path(self, key: str) -> str:
        raise NotImplementedError

    def prepare(self) -> None:
        """Create the bucket (once per run)."""

    def seed_headers(self) -> dict[str, str]:
        return self.headers

    def seed(self, size: int, keys: list[str]) -> None:
        body = os.urandom(size)
        headers = self.seed_headers()

        def put(key: str) -> None:
            status, text = call(self.host, self.port, "PUT", self.object_path(key), body, headers)
            if status >= 300:
                raise SetupError(f"{self.name}: seeding {key} answered {status}: {text[:200]!r}")

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(put, keys))


@dataclass
class S3Target(Target):
    prefix: str = ""   # "/s3" for aismesh, "" for moto
    bucket: str = "bench"

    def __post_init__(self) -> None:
        # Path-style requests with a dummy signature no target here checks (none has keys), the
        # same for every S3 target and both clients: moto refuses unsigned PUTs over existing keys.
        self.headers = dict(S3_HEADERS)

    def object_path(self, key: str) -> str:
        return f"{self.prefix}/{self.bucket}/{quote(key)}"

    def seed_headers(self) -> dict[str, str]:
        # public-read: moto answers 403 to unsigned GETs of private objects.
        return {**S3_HEADERS, "x-amz-acl": "public-read"}

    def prepare(self) -> None:
        status, text = call(self.host, self.port, "PUT", f"{self.prefix}/{self.bucket}", b"", S3_HEADERS)
        if status >= 300 and b"BucketAlreadyOwnedByYou" not in text:
            raise SetupError(f"{self.name}: creating bucket answered {status}: {text[:200]!r}")


@dataclass
class NativeTarget(Target):
    bucket: str = "bench-native"
    raw_http: ClassVar[bool] = False

    def object_path(self, key: str) -> str:
        return f"/v1/objects/{self.bucket}/{quote(key)}?provider=ais"

    def prepare(self) -> None:
        msg = json.dumps({"action": "create-bck", "name": "", "value": None}).encode()
        status, text = call(self.host, self.port, "POST", f"/v1/buckets/{self.bucket}?provider=ais", msg,
                            {"Content-Type": "application/json"})
        if status == 404 or status == 405:
            self.skipped = "native API not available on this gateway"
        elif status >= 300 and b"already exists" not in text:
            raise SetupError(f"{self.name}: creating bucket answered {status}: {text[:200]!r}")


@dataclass
class NginxTarget(Target):
    root: str = ""

    def object_path(self, key: str) -> str:
        return "/" + quote(key)

    def seed(self, size: int, keys: list[str]) -> None:
        body = os.urandom(size)
        for key in keys:
            path = os.path.join(self.root, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)


def wait_http(host: str, port: int, path: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            status, _ = call(host, port, "GET", path)
            if status < 500:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SetupError(f"nothing answered on {host}:{port}{path} within {timeout:.0f} s")
