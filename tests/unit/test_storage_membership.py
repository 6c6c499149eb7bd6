"""Registration and heartbeats of a storage node against scripted metadata replicas."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc

from aismesh.cmn import errors
from aismesh.protos import metadata_pb2
from services.storage.membership import Membership
from services.storage.store import Store


class FakeError(grpc.RpcError):
    def __init__(self, err: errors.AisError | None = None) -> None:
        self.err = err

    def code(self) -> grpc.StatusCode:
        return self.err.grpc_code if self.err is not None else grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return self.err.message if self.err is not None else "connection refused"

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        if self.err is None:
            return ()
        return ((errors.ERROR_METADATA_KEY, self.err.to_info().SerializeToString()),)


class Replica:
    """A metadata replica that follows a script: each Heartbeat pops the next outcome."""

    def __init__(self, name: str, script: list[str], calls: list[str], done: threading.Event) -> None:
        self.name, self.script, self.calls, self.done = name, script, calls, done

    def RegisterNode(self, req: metadata_pb2.RegisterNodeRequest, timeout: float) -> metadata_pb2.RegisterNodeResponse:
        self.calls.append(f"{self.name}:register")
        if self.script and self.script[0] == "down":
            self.script.pop(0)
            raise FakeError()
        return metadata_pb2.RegisterNodeResponse(lease_id=7, lease_ttl_s=1)

    def Heartbeat(self, req: metadata_pb2.HeartbeatRequest, timeout: float) -> metadata_pb2.HeartbeatResponse:
        self.calls.append(f"{self.name}:heartbeat")
        step = self.script.pop(0) if self.script else "stop"
        if step == "stop":
            self.done.set()
        if step == "down":
            raise FakeError()
        if step == "gone":
            raise FakeError(errors.NotFound("lease expired; register again"))
        return metadata_pb2.HeartbeatResponse(smap_version=3, ttl_s=1)


def run(tmp_path: Path, scripts: dict[str, list[str]]) -> list[str]:
    calls: list[str] = []
    done = threading.Event()
    replicas = [Replica(n, s, calls, done) for n, s in scripts.items()]
    m = Membership(replicas, metadata_pb2.Node(id="t1"), Store("t1", [str(tmp_path)]))  # type: ignore[arg-type]
    t = threading.Thread(target=m._heartbeat_loop, daemon=True)
    t.start()
    assert done.wait(20)
    m.stop.set()
    t.join(5)
    return calls


def test_not_found_means_register_again(tmp_path: Path) -> None:
    calls = run(tmp_path, {"m1": ["ok", "gone", "ok"]})
    assert calls[:5] == ["m1:register", "m1:heartbeat", "m1:heartbeat", "m1:register", "m1:heartbeat"]


def test_unavailable_moves_to_the_next_replica_and_registers_there(tmp_path: Path) -> None:
    calls = run(tmp_path, {"m1": ["down"], "m2": ["ok"]})
    assert calls[:4] == ["m1:register", "m2:register", "m2:heartbeat", "m2:heartbeat"]


def test_registers_again_after_an_outage(tmp_path: Path) -> None:
    calls = run(tmp_path, {"m1": ["ok", "down", "ok"]})
    assert calls[:5] == ["m1:register", "m1:heartbeat", "m1:heartbeat", "m1:register", "m1:heartbeat"]
