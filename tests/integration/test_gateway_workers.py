"""Client connections spread over the gateway's workers (services/gateway/worker.py): before,
one worker of four took 13 of 16 keep-alive clients and its GIL capped the gateway."""

from __future__ import annotations

import http.client
import os
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest

from tests.integration.conftest import Mesh, running_mesh


def _gateway_workers(mesh: Mesh) -> list[int]:
    master = next(s["pid"] for s in mesh.status()["services"] if s["kind"] == "gateway")
    with open(f"/proc/{master}/task/{master}/children") as f:
        return [int(p) for p in f.read().split()]


def _established_inodes(port: int, client_ports: set[int]) -> set[str]:
    """The gateway's side of our clients' connections (not those of anyone else)."""
    inodes = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == port and remote_port in client_ports and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    return inodes


def _sockets_of(pid: int, inodes: set[str]) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


@pytest.fixture(scope="module")
def own_mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """A gateway no other test holds connections to (theirs would count in the shares)."""
    with running_mesh(str(tmp_path_factory.mktemp("workers")), "--workers", "4") as m:
        yield m


def test_keepalive_clients_spread_over_the_workers(own_mesh: Mesh) -> None:
    mesh = own_mesh
    url = urlparse(mesh.url)
    workers = _gateway_workers(mesh)
    assert len(workers) >= 2
    host = url.hostname or "127.0.0.1"
    clients = [http.client.HTTPConnection(host, url.port, timeout=10) for _ in range(4 * len(workers))]
    try:
        for c in clients:  # all connected at once, as a load generator or a data loader starts
            c.connect()
        for c in clients:
            c.request("GET", "/v1/health")
        for c in clients:
            assert c.getresponse().status == 200
        inodes = _established_inodes(url.port or 80, {c.sock.getsockname()[1] for c in clients if c.sock})
        held = [_sockets_of(pid, inodes) for pid in workers]
        assert sum(held) == len(clients)
        # each worker within its share plus one (see worker.fair_limit), none idle
        assert max(held) <= len(clients) // len(workers) + 2, held
        assert min(held) >= 1, held
    finally:
        for c in clients:
            c.close()
