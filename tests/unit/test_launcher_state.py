"""Launcher: port assignment that keeps addresses, and the crash-loop policy."""

from aismesh.launcher.services import build_specs
from aismesh.launcher.state import State, assign_ports
from aismesh.launcher.supervisor import CrashPolicy


def test_previous_ports_are_reused_when_free() -> None:
    ports = assign_ports(["a", "b"], {"a": 40001, "b": 40002}, "127.0.0.1", set(), is_free=lambda h, p: True)
    assert ports == {"a": 40001, "b": 40002}


def test_taken_ports_are_replaced() -> None:
    ports = assign_ports(["a", "b"], {"a": 40001, "b": 40001}, "127.0.0.1", {8080},
                         is_free=lambda h, p: p != 40001)
    assert 40001 not in ports.values() and len(set(ports.values())) == 2 and 8080 not in ports.values()


def test_crash_policy_gives_up_on_a_loop() -> None:
    p = CrashPolicy(window_s=30, limit=3)
    assert p.should_restart(0) and p.should_restart(1)
    assert not p.should_restart(2)
    q = CrashPolicy(window_s=30, limit=3)
    assert all(q.should_restart(t) for t in (0, 40, 80, 120))  # spread out: always restarted


def test_specs_are_in_start_order() -> None:
    st = State(data="/d", port=8080, targets=2,
               ports={"etcd": 1, "etcd-peer": 2, "metadata": 3, "t1": 4, "t2": 5})
    specs = build_specs(st, workers=2)
    assert [s.name for s in specs] == ["etcd", "metadata", "t1", "t2", "gateway"]
    assert "--mountpath" in specs[2].argv and specs[-1].addr == "127.0.0.1:8080"
