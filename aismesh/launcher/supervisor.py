"""Runs the local mesh's processes: starts them in order once each is healthy, restarts any
that dies (backing off; giving up on a crash loop), and stops them in reverse order."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from aismesh.cmn.proc import die_with_parent, stop_process
from aismesh.launcher import GRPC_FORK_MARK
from aismesh.launcher.services import ServiceSpec, is_healthy
from aismesh.launcher.state import State

log = logging.getLogger("launcher")
START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
CRASH_WINDOW_S = 30.0
CRASH_LIMIT = 5


@dataclass
class CrashPolicy:
    """Restart after a crash unless it crashed CRASH_LIMIT times within CRASH_WINDOW_S."""

    window_s: float = CRASH_WINDOW_S
    limit: int = CRASH_LIMIT
    crashes: deque[float] = field(default_factory=deque)

    def should_restart(self, now: float) -> bool:
        self.crashes.append(now)
        while self.crashes and now - self.crashes[0] > self.window_s:
            self.crashes.popleft()
        return len(self.crashes) < self.limit

    def backoff_s(self) -> float:
        return min(0.2 * (2 ** max(0, len(self.crashes) - 1)), 5.0)


class ServiceStartError(RuntimeError):
    pass


class Supervisor:
    def __init__(self, state: State, specs: list[ServiceSpec]) -> None:
        self.state = state
        self.specs = specs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.policies = {s.name: CrashPolicy() for s in specs}
        self.given_up: set[str] = set()
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def _spawn(self, spec: ServiceSpec) -> subprocess.Popen[bytes]:
        os.makedirs(os.path.dirname(spec.log), exist_ok=True)
        logf = open(spec.log, "ab")  # noqa: SIM115 - handed to the child, closed below
        try:
            env = dict(os.environ, PYTHONUNBUFFERED="1")
            if env.pop(GRPC_FORK_MARK, None):  # the launcher's own setting, not the services'
                env.pop("GRPC_ENABLE_FORK_SUPPORT", None)
            proc = subprocess.Popen(list(spec.argv), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    preexec_fn=die_with_parent, env=env, cwd=self.state.data)
        finally:
            logf.close()
        with self._lock:
            self.procs[spec.name] = proc
            self.state.pids[spec.name] = proc.pid
            self.state.save()
        return proc

    def _wait_healthy(self, spec: ServiceSpec, proc: subprocess.Popen[bytes], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stopping.is_set():
                raise ServiceStartError("stopping")
            if proc.poll() is not None:
                raise ServiceStartError(f"{spec.name} exited with code {proc.returncode} while starting")
            if is_healthy(spec, timeout=0.5):
                return
            time.sleep(0.05)
        raise ServiceStartError(f"{spec.name} was not healthy after {timeout:.0f} s")

    def start_all(self) -> None:
        """Start every service in order, each one only after the previous ones are healthy."""
        targets = [s for s in self.specs if s.kind == "storage"]
        for spec in self.specs:
            if spec.kind == "storage" and spec is not targets[0]:
                continue  # storage nodes start together, below
            if spec.kind == "storage":
                started = [(t, self._spawn(t)) for t in targets]
                for t, proc in started:
                    self._wait_healthy(t, proc, START_TIMEOUT_S)
                continue
            self._wait_healthy(spec, self._spawn(spec), START_TIMEOUT_S)

    def watch(self) -> None:
        """Until asked to stop: restart services that die, within the crash policy."""
        by_name = {s.name: s for s in self.specs}
        while not self.stopping.wait(0.2):
            for name, proc in list(self.procs.items()):
                if name in self.given_up or proc.poll() is None:
                    continue
                policy = self.policies[name]
                if not policy.should_restart(time.monotonic()):
                    log.error("%s crashed %d times in %.0f s: giving up on it", name, policy.limit, policy.window_s)
                    self.given_up.add(name)
                    continue
                log.warning("%s exited with code %s; restarting", name, proc.returncode)
                if self.stopping.wait(policy.backoff_s()):
                    return
                self._spawn(by_name[name])

    def stop_all(self) -> None:
        """SIGTERM in reverse start order, SIGKILL whatever is still there after the grace."""
        self.stopping.set()
        for spec in reversed(self.specs):
            proc = self.procs.get(spec.name)
            if proc is not None and stop_process(proc, STOP_GRACE_S):
                log.warning("%s did not stop within %.0f s: killed it", spec.name, STOP_GRACE_S)
        with self._lock:
            self.state.pids.clear()
            self.state.supervisor_pid = 0
            self.state.save()
