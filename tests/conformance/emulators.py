"""Real servers the backend tests run against, on free loopback ports: moto server (aws),
nginx (ht: autoindex JSON under /json/, HTML under /html/, no index under /plain/), and the
adapters themselves. Readiness is polled, never slept for; every start has a stop."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from aismesh.cmn.proc import stop_process

BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(ok: Callable[[], bool], what: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if ok():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout} s")


def http_up(url: str) -> Callable[[], bool]:
    def ok() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
    return ok


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: str

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        stop_process(self.proc)

    def freeze(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.proc.send_signal(signal.SIGCONT)


def _spawn(name: str, argv: list[str], workdir: str, port: int, env: dict[str, str] | None = None) -> Proc:
    log = os.path.join(workdir, f"{name}.log")
    with open(log, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=dict(os.environ, **(env or {})))
    return Proc(name, proc, port, log)


@contextlib.contextmanager
def moto(workdir: str, port: int = 0) -> Iterator[Proc]:
    port = port or free_port()
    p = _spawn("moto", [os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)], workdir, port)
    try:
        poll(http_up(f"http://127.0.0.1:{port}/moto-api/"), "moto server", p.proc)
        yield p
    finally:
        p.stop()


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else "")
    if not found:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return found


@contextlib.contextmanager
def nginx(workdir: str) -> Iterator[tuple[Proc, str]]:
    """nginx on a free port over ``workdir/www``; yields it and the root folder."""
    binary = nginx_binary()
    port = free_port()
    root = os.path.join(workdir, "www")
    for sub in ("www/json", "www/html", "www/plain", "logs", "tmp"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    t = os.path.join(workdir, "tmp")
    user = "user root;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
daemon off; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{ default_type application/octet-stream; access_log off;
  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/f;
  uwsgi_temp_path {t}/u; scgi_temp_path {t}/s;
  server {{ listen 127.0.0.1:{port}; root {root};
    location /json/ {{ autoindex on; autoindex_format json; }}
    location /html/ {{ autoindex on; }}
    location = /loop/a {{ return 302 /loop/b; }}
    location = /loop/b {{ return 302 /loop/a; }}
  }} }}
"""
    path = os.path.join(workdir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    p = _spawn("nginx", [binary, "-p", workdir, "-c", path, "-e", os.path.join(workdir, "logs", "error.log")],
               workdir, port)
    try:
        poll(http_up(f"http://127.0.0.1:{port}/"), "nginx", p.proc)
        yield p, root
    finally:
        p.stop()


@contextlib.contextmanager
def adapter(provider: str, workdir: str, env: dict[str, str] | None = None) -> Iterator[Proc]:
    """One backend adapter process (``python -m services.backends.<provider>``)."""
    from aismesh.cmn.rpc import check_health

    port = free_port()
    p = _spawn(f"backend-{provider}", [sys.executable, "-m", f"services.backends.{provider}", "--listen",
                                       f"127.0.0.1:{port}"], workdir, port, env)
    try:
        poll(lambda: check_health(f"127.0.0.1:{port}", 0.5), f"the {provider} adapter", p.proc)
        yield p
    finally:
        p.stop()


def aws_env(moto_port: int) -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}"}
