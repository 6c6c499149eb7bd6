"""The peers the benchmark starts for itself: moto server, nginx, and a temporary aismesh."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass

from aismesh.bench.targets import SetupError, wait_http
from aismesh.cmn.proc import stop_process

BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int

    def stop(self) -> None:
        stop_process(self.proc)


def start_moto(workdir: str) -> Server:
    port = free_port()
    log = open(os.path.join(workdir, "moto.log"), "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    wait_http("127.0.0.1", port, "/moto-api/")
    return Server("moto", proc, port)


def ensure_nginx() -> str:
    """The nginx binary, installed from Debian's packages when missing."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
    if found:
        return found
    print("bench: nginx is missing; installing it from Debian (apt-get install nginx)", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise SetupError(f"cannot install nginx ({' '.join(cmd)}): {done.stderr.strip()[-400:]}")
    return "/usr/sbin/nginx"


def start_nginx(workdir: str) -> tuple[Server, str]:
    """nginx serving workdir/www as static files on a free port; returns it and its root."""
    binary = ensure_nginx()
    port = free_port()
    root = os.path.join(workdir, "www")
    for sub in ("www", "logs", "tmp"):
        os.makedirs(os.path.join(workdir, sub), exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    t = os.path.join(workdir, "tmp")
    conf = f"""
{user}
daemon off; worker_processes 2; pid {workdir}/nginx.pid; error_log {workdir}/logs/error.log warn;
events {{ worker_connections 1024; }}
http {{ default_type application/octet-stream; access_log off; sendfile on; tcp_nopush on;
  keepalive_requests 1000000; keepalive_timeout 75s;
  client_body_temp_path {t}/body; proxy_temp_path {t}/proxy; fastcgi_temp_path {t}/f;
  uwsgi_temp_path {t}/u; scgi_temp_path {t}/s;
  server {{ listen 127.0.0.1:{port}; root {root}; }} }}
"""
    path = os.path.join(workdir, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    log = open(os.path.join(workdir, "logs", "stdout.log"), "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([binary, "-p", workdir, "-c", path, "-e", os.path.join(workdir, "logs", "error.log")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    wait_http("127.0.0.1", port, "/")
    return Server("nginx", proc, port), root


@dataclass
class Mesh:
    data: str
    url: str
    host: str
    port: int
    owned: bool

    def pids(self) -> dict[str, int]:
        done = subprocess.run([os.path.join(BIN, "aismesh"), "status", "--data", self.data, "--json"],
                              capture_output=True, text=True)
        try:
            return {s["name"]: int(s["pid"]) for s in json.loads(done.stdout).get("services", [])}
        except ValueError:
            return {}

    def stop(self) -> None:
        if self.owned:
            subprocess.run([os.path.join(BIN, "aismesh"), "down", "--data", self.data], capture_output=True)


def start_mesh(workdir: str, targets: int, workers: int, moto_port: int = 0) -> Mesh:
    """A temporary mesh; with ``moto_port``, its aws adapter runs and reads that moto."""
    data = os.path.join(workdir, "mesh")
    port = free_port()
    extra: list[str] = []
    env = dict(os.environ)
    if moto_port:
        extra = ["--backends", "aws"]
        env.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}", AWS_ACCESS_KEY_ID="testing",
                   AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    done = subprocess.run([os.path.join(BIN, "aismesh"), "up", "--detach", "--data", data, "--port", str(port),
                           "--targets", str(targets), "--workers", str(workers), *extra], capture_output=True,
                          text=True, env=env)
    if done.returncode != 0:
        raise SetupError(f"aismesh up failed: {done.stderr.strip()}")
    return Mesh(data=data, url=f"http://127.0.0.1:{port}", host="127.0.0.1", port=port, owned=True)
