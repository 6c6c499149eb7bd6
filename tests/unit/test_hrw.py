"""HRW placement: deterministic, balanced, and moving only what it must."""

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from aismesh.cmn import hrw

NAMES = [f"ais/@#/bucket/obj-{i}" for i in range(30_000)]


def nodes(n: int) -> list[tuple[str, int]]:
    return [(f"t{i}", hrw.digest(f"t{i}")) for i in range(1, n + 1)]


def placement(names: list[str], ns: list[tuple[str, int]]) -> dict[str, str]:
    return {name: hrw.pick(name, ns) for name in names}


def test_deterministic() -> None:
    assert placement(NAMES[:100], nodes(3)) == placement(NAMES[:100], nodes(3))
    assert hrw.pick("x", list(reversed(nodes(5)))) == hrw.pick("x", nodes(5))


def test_balanced_over_3_and_10_nodes() -> None:
    for n in (3, 10):
        counts = Counter(placement(NAMES, nodes(n)).values())
        assert len(counts) == n
        expected = len(NAMES) / n
        assert all(abs(c - expected) / expected < 0.05 for c in counts.values()), counts


def test_adding_a_node_moves_only_what_it_wins() -> None:
    before = placement(NAMES, nodes(3))
    after = placement(NAMES, nodes(4))
    moved = [n for n in NAMES if before[n] != after[n]]
    assert all(after[n] == "t4" for n in moved)
    assert abs(len(moved) / len(NAMES) - 0.25) < 0.02


def test_removing_a_node_moves_only_what_it_held() -> None:
    before = placement(NAMES, nodes(4))
    after = placement(NAMES, nodes(4)[:3])
    for name in NAMES:
        if before[name] != "t4":
            assert after[name] == before[name]


@settings(max_examples=50)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=50), st.integers(2, 8))
def test_movement_property(names: list[str], n: int) -> None:
    before = placement(names, nodes(n))
    after = placement(names, nodes(n + 1))
    assert all(after[x] in (before[x], f"t{n + 1}") for x in names)


def test_pick_str_for_mountpaths() -> None:
    mps = ["/d/mp1", "/d/mp2"]
    assert hrw.pick_str("obj", mps) in mps
