"""The real mesh, started once per test session with the launcher, and clients for it."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

BIN = os.path.dirname(sys.executable)
AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, ok: Callable[[], bool], timeout: float = 20.0) -> None:
    """Poll ``ok`` until it holds; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def aismesh(*args: str, check: bool = True, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.path.join(BIN, "aismesh"), *args], capture_output=True, text=True, check=check,
                          timeout=180, env=dict(os.environ, **(env or {})))


@dataclass
class Mesh:
    data: str
    url: str
    etcd: str

    @property
    def s3(self) -> str:
        return self.url + "/s3"

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(aismesh("status", "--data", self.data, "--json", check=False).stdout)
        return doc

    def pid(self, name: str) -> int:
        return int(next(s["pid"] for s in self.status()["services"] if s["name"] == name))

    def kill(self, name: str) -> int:
        """SIGKILL one service; the launcher's supervisor restarts it."""
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def wait_healthy(self, name: str | None = None, timeout: float = 30.0, not_pid: int = 0) -> None:
        """Poll `aismesh status` until the service (or all) is healthy (and, if given, has a new pid)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            svcs = [s for s in self.status().get("services", []) if name is None or s["name"] == name]
            if svcs and all(s["healthy"] and s["pid"] != not_pid for s in svcs):
                return
            time.sleep(0.1)
        raise AssertionError(f"{name or 'the mesh'} not healthy within {timeout} s: {self.status()}")


def _logs(data: str) -> str:
    logs = os.path.join(data, "logs")
    out = []
    for name in sorted(os.listdir(logs)) if os.path.isdir(logs) else []:
        with open(os.path.join(logs, name), errors="replace") as f:
            out.append(f"--- {name}\n" + "".join(f.readlines()[-20:]))
    return "\n".join(out)


@contextlib.contextmanager
def running_mesh(data: str, *args: str, env: dict[str, str] | None = None) -> Iterator[Mesh]:
    """A detached mesh in ``data`` (launcher flags in ``args``, service settings in ``env``)."""
    port = free_port()
    started = aismesh("up", "--detach", "--data", data, "--port", str(port), "--targets", "3", *args,
                      check=False, env=env)
    if started.returncode != 0:
        aismesh("down", "--data", data, check=False)
        pytest.fail(f"aismesh up failed: {started.stderr}\n{_logs(data)}")
    status = json.loads(aismesh("status", "--data", data, "--json").stdout)
    try:
        yield Mesh(data=data, url=status["gateway"]["url"], etcd=status["etcd_endpoint"])
    finally:
        aismesh("down", "--data", data, check=False)


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(str(tmp_path_factory.mktemp("mesh"))) as m:
        yield m


def s3_client(m: Mesh) -> Any:
    return boto3.client("s3", endpoint_url=m.s3, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


@pytest.fixture(scope="session")
def s3(mesh: Mesh) -> Any:
    return s3_client(mesh)


@pytest.fixture(scope="session")
def aws_cli(mesh: Mesh) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ, **AWS_ENV)
        return subprocess.run([os.path.join(BIN, "aws"), "--endpoint-url", mesh.s3, *args], capture_output=True,
                              input=input, env=env, timeout=120)

    return run


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket, emptied and removed after the test."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())[:30].strip("-")
    name = f"t-{stem}-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    yield name
    drop_bucket(s3, name)


def drop_bucket(s3: Any, name: str) -> None:
    """Empty a bucket through S3 and delete it."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)
