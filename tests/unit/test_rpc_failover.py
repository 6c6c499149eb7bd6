"""FailoverStub: calls move on from a replica that is unavailable, and stay on the one that answers."""

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from aismesh.cmn.rpc import FailoverStub


class Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


class Replica:
    def __init__(self, name: str, down: bool = False, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        self.name, self.down, self.code, self.calls = name, down, code, 0
        self.back_when_waited = False

    def Get(self, request: Any, **kw: Any) -> str:
        self.calls += 1
        if self.down and kw.get("wait_for_ready") and self.back_when_waited:
            self.down = False
        if self.down:
            raise Failed(self.code)
        return f"{self.name}:{request}"

    def Watch(self, request: Any, **_: Any) -> Iterator[str]:
        self.calls += 1

        def stream() -> Iterator[str]:
            yield f"{self.name}:first"
            if self.down:
                raise Failed(grpc.StatusCode.UNAVAILABLE)

        return stream()


def test_an_unavailable_replica_is_skipped_and_the_next_one_kept() -> None:
    a, b = Replica("a", down=True), Replica("b")
    stub = FailoverStub([a, b])
    assert stub.Get(1) == "b:1"
    assert stub.Get(2) == "b:2"
    assert (a.calls, b.calls) == (1, 2)


def test_other_errors_are_not_failed_over() -> None:
    a, b = Replica("a", down=True, code=grpc.StatusCode.NOT_FOUND), Replica("b")
    with pytest.raises(grpc.RpcError):
        FailoverStub([a, b]).Get(1)
    assert b.calls == 0


def test_when_every_replica_is_down_the_last_error_is_raised() -> None:
    with pytest.raises(grpc.RpcError):
        FailoverStub([Replica("a", down=True), Replica("b", down=True)]).Get(1)


def test_a_stream_that_breaks_moves_the_next_call_on() -> None:
    a, b = Replica("a", down=True), Replica("b")
    stub = FailoverStub([a, b])
    got = []
    with pytest.raises(grpc.RpcError):
        got.extend(stub.Watch(0))
    assert got == ["a:first"]
    assert list(stub.Watch(0)) == ["b:first"]


def test_when_every_replica_refused_one_more_call_waits_for_a_reconnect() -> None:
    a, b = Replica("a", down=True), Replica("b", down=True)
    a.back_when_waited = b.back_when_waited = True
    assert FailoverStub([a, b]).Get(1).endswith(":1")
    assert a.calls + b.calls == 3


def test_a_deadline_on_every_replica_is_not_waited_on_again() -> None:
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    a, b = Replica("a", down=True, code=code), Replica("b", down=True, code=code)
    with pytest.raises(grpc.RpcError):
        FailoverStub([a, b]).Get(1)
    assert a.calls + b.calls == 2
