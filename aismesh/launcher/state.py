"""DATA/state.json: the ports a local mesh uses (kept across restarts) and its live pids."""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

STATE_FILE = "state.json"


@dataclass
class State:
    data: str
    host: str = "127.0.0.1"
    port: int = 8080
    targets: int = 3
    metadata: int = 1  # metadata service replicas
    backends: list[str] = field(default_factory=list)  # providers whose adapters run (aws, ht)
    ports: dict[str, int] = field(default_factory=dict)   # service name -> port (etcd-peer too)
    pids: dict[str, int] = field(default_factory=dict)    # service name -> pid, while running
    supervisor_pid: int = 0

    @property
    def path(self) -> str:
        return os.path.join(self.data, STATE_FILE)

    def save(self) -> None:
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(asdict(self), f, indent=2, sort_keys=True)
        os.replace(tmp, self.path)

    @classmethod
    def load(cls, data: str) -> State | None:
        try:
            with open(os.path.join(data, STATE_FILE)) as f:
                doc: dict[str, Any] = json.load(f)
        except (FileNotFoundError, ValueError):
            return None
        doc["data"] = data
        return cls(**doc)


def is_port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str, taken: set[int]) -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in taken:
            return port


def assign_ports(names: list[str], previous: dict[str, int], host: str, reserved: set[int],
                 is_free: Any = is_port_free) -> dict[str, int]:
    """A port per name: the previous one when it is still free (addresses survive a restart)."""
    out: dict[str, int] = {}
    taken = set(reserved)
    for name in names:
        old = previous.get(name)
        if old and old not in taken and is_free(host, old):
            out[name] = old
        else:
            out[name] = free_port(host, taken)
        taken.add(out[name])
    return out


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def process_uptime(pid: int) -> float:
    """Seconds since process ``pid`` started (0 when it is not running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            boot_s = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    return max(0.0, boot_s - start_ticks / os.sysconf("SC_CLK_TCK"))
