"""The compose stack (docker-compose.yml) in a Docker engine, started once for this folder's tests.

`scripts/compose.sh prepare` finds an engine (DOCKER_HOST, the default socket, or a private one
it starts, installing Debian's docker.io when needed: root only), the Compose plugin, the base
image and the wheelhouse, and builds the image from the work tree. testcontainers' DockerCompose
then runs the real docker-compose.yml as a project of its own (its own name, volumes and host
port, so a stack started with `make compose-up` is left alone) and removes it afterwards.

No engine to be had here: the tests skip, unless AISMESH_COMPOSE_REQUIRED=1 (CI, and
`make test-compose`) makes that a failure. One stack per test module: keep these tests in one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from botocore.config import Config

from tests.integration.conftest import drop_bucket

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "compose.sh"
ENV_FILE = ROOT / ".docker" / "env"
NO_ENGINE = 3  # scripts/compose.sh: no engine reachable and none can be started here
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            got = check()
            if got:
                return got
            last = got
        except Exception as e:  # the thing polled may fail until it is ready: that is the point
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s (last: {last!r})")
        time.sleep(every)


@dataclass
class Stack:
    """The running compose project and what the tests drive it with."""

    compose: Any  # testcontainers.compose.DockerCompose
    url: str

    @property
    def s3_endpoint(self) -> str:
        return self.url + "/s3"

    def s3(self, read_timeout: float = 30.0) -> Any:
        return boto3.client("s3", endpoint_url=self.s3_endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing",
                            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                          connect_timeout=5, read_timeout=read_timeout))

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """``docker compose ARGS`` on this project."""
        return subprocess.run([*self.compose.docker_compose_command(), *args], cwd=ROOT, capture_output=True,
                              text=True, check=check, timeout=timeout)

    def exec(self, service: str, *command: str) -> str:
        """Run ``command`` inside the service's container; its stdout (fails on a non-zero exit)."""
        out, err, rc = self.compose.exec_in_container(list(command), service)
        assert rc == 0, f"{' '.join(command)} in {service} exited {rc}: {err}"
        return str(out)

    def etcdctl(self, *args: str) -> str:
        """etcdctl inside the first etcd member's container (the cluster's client port there)."""
        return self.exec("etcd1", "etcdctl", *args)

    def etcd_json(self, key: str) -> Any:
        return json.loads(self.etcdctl("get", key, "--print-value-only"))

    def state(self, service: str) -> tuple[str, str]:
        """(State, Health) of the service's container as `docker compose ps` shows them."""
        for c in self.compose.get_containers(include_all=True):
            if c.Service == service:
                return c.State or "", c.Health or ""
        return "", ""

    def restarts(self, service: str) -> int:
        cid = self.compose.get_container(service, include_all=True).ID
        return int(subprocess.run(["docker", "inspect", "--format", "{{.RestartCount}}", cid], capture_output=True,
                                  text=True, check=True, timeout=30).stdout)

    def wait_healthy(self, service: str, timeout: float = 90.0) -> None:
        wait_for(lambda: self.state(service) == ("running", "healthy"), timeout, f"{service} healthy")

    def logs(self, *services: str) -> str:
        return self.run("logs", "--no-color", "--tail", "40", *services, check=False).stdout


def _load_env() -> dict[str, str]:
    env = {}
    for line in ENV_FILE.read_text().splitlines():
        key, _, value = line.partition("=")
        if key in ("DOCKER_HOST", "DOCKER_CONFIG", "AISMESH_IMAGE"):
            env[key] = value
    return env


def set_environ(values: dict[str, str | None]) -> None:
    """Set these variables of this process (None: unset); compose and docker inherit them."""
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _private_engine_running() -> bool:
    try:
        os.kill(int((ROOT / ".docker" / "engine" / "dockerd.pid").read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _prepare() -> tuple[dict[str, str], bool]:
    """The engine and the image; returns the variables that point docker and compose at them, and
    whether this call started the (private) engine."""
    required = os.environ.get("AISMESH_COMPOSE_REQUIRED", "") not in ("", "0")
    running_before = _private_engine_running()
    env = dict(os.environ, AISMESH_PYTHON=sys.executable)
    done = subprocess.run([str(SCRIPT), "prepare"], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=1500, check=False)
    if done.returncode == NO_ENGINE:
        why = " / ".join(done.stderr.strip().splitlines()[-3:])
        if required:
            pytest.fail(f"AISMESH_COMPOSE_REQUIRED is set and no Docker engine can be had: {why}")
        pytest.skip(f"no Docker engine can be had here: {why}")
    if done.returncode != 0:
        pytest.fail(f"scripts/compose.sh prepare failed:\n{done.stderr[-4000:]}")
    return _load_env(), not running_before and _private_engine_running()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    docker_env, started_engine = _prepare()
    from testcontainers.compose import DockerCompose  # installed by `prepare` when missing

    port = free_port()
    settings: dict[str, str | None] = {
        "DOCKER_HOST": None, "DOCKER_CONFIG": None,  # unset unless `prepare` named them
        **docker_env,
        "TESTCONTAINERS_RYUK_DISABLED": "true",          # its reaper image cannot be pulled here
        "TESTCONTAINERS_CONNECTION_MODE": "docker_host",  # /.dockerenv would make it dial a bridge
        "COMPOSE_PROJECT_NAME": f"aismesh-test-{os.getpid()}",
        "AISMESH_PORT": str(port),
    }
    saved = {k: os.environ.get(k) for k in settings}
    set_environ(settings)
    compose = DockerCompose(str(ROOT), compose_file_name="docker-compose.yml", wait=True)
    s = Stack(compose=compose, url=f"http://127.0.0.1:{port}")
    try:
        try:
            compose.start()  # `docker compose up --wait`: returns once every health check passes
        except subprocess.CalledProcessError as e:
            pytest.fail(f"docker compose up failed: {e.stderr.decode(errors='replace')[-3000:]}\n{s.logs()}")
        yield s
    finally:
        try:
            # compose.stop() would be `down --volumes`; a short timeout spares the last etcd
            # member its wait to hand leadership to members already gone (~7 s).
            s.run("down", "--volumes", "--timeout", "3", check=False)
        finally:
            set_environ(saved)
            if started_engine:
                subprocess.run([str(SCRIPT), "engine-down"], cwd=ROOT, capture_output=True, timeout=120, check=False)


@pytest.fixture
def s3(stack: Stack) -> Any:
    return stack.s3()


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh bucket, emptied and removed after the test."""
    name = f"c-{request.node.name.lower().replace('_', '-')[:40].strip('-')}-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    yield name
    drop_bucket(s3, name)
