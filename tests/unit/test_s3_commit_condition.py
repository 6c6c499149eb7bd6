"""S3 conditional writes checked by the storage node at commit (Store._check_condition):
the node-side half of If-None-Match: * / If-Match, atomic against concurrent writers."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from aismesh.cmn import errors
from aismesh.cmn.names import Bck
from services.gateway.s3.conditions import Conditions, commit_condition
from services.storage.store import PutSpec, Store

BCK = Bck("b")


def spec(name: str, **kw: object) -> PutSpec:
    return PutSpec(bck=BCK, bid=5, name=name, compute_md5=True, **kw)  # type: ignore[arg-type]


def test_if_absent(store: Store) -> None:
    store.put(spec("k", if_absent=True), [b"one"])
    with pytest.raises(errors.PreconditionFailed):
        store.put(spec("k", if_absent=True), [b"two"])
    fd, meta, _ = store.open_object(BCK, 5, "k")
    os.close(fd)
    assert meta.etag == hashlib.md5(b"one").hexdigest()


def test_if_match_etag(store: Store) -> None:
    with pytest.raises(errors.PreconditionFailed):
        store.put(spec("k", if_match_etag="abc"), [b"x"])
    etag = store.put(spec("k"), [b"one"]).etag
    with pytest.raises(errors.PreconditionFailed):
        store.put(spec("k", if_match_etag="other"), [b"two"])
    assert store.put(spec("k", if_match_etag=f'"{etag}"'), [b"three"]).etag == hashlib.md5(b"three").hexdigest()


def test_concurrent_if_absent_writers_one_wins(store: Store) -> None:
    barrier = threading.Barrier(8)
    outcomes: list[str] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        barrier.wait()
        try:
            store.put(spec("race", if_absent=True), [bytes([i]) * 4096])
            outcome = "ok"
        except errors.PreconditionFailed:
            outcome = "412"
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["412"] * 7 + ["ok"]


def test_commit_condition_from_headers() -> None:
    assert commit_condition(Conditions()) == commit_condition(Conditions(if_modified_since=1))
    assert commit_condition(Conditions(if_none_match="*")).if_absent
    assert commit_condition(Conditions(if_match='"abc"')).if_match_etag == "abc"
    assert commit_condition(Conditions(if_match='"a", "b"')).if_match_etag == ""
    assert commit_condition(Conditions(if_match="*")).if_match_etag == ""
