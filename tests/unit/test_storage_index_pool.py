"""The listing index shares a small pool of SQLite connections: threads come and go (the node
runs one per same-host client), descriptors do not pile up."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from services.storage.index import POOL_SIZE, Index
from services.storage.objmeta import ObjMeta


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def meta(name: str) -> ObjMeta:
    return ObjMeta(name=name, size=1, cks_type="xxhash", cks_value="0", version="1", atime_ns=1, mtime_ns=1)


def test_threads_that_come_and_go_leave_no_descriptors(tmp_path: Path) -> None:
    idx = Index(str(tmp_path))
    idx.open()
    idx.upsert("bk", meta("warm"))
    before = fds()
    for i in range(100):
        t = threading.Thread(target=idx.upsert, args=("bk", meta(f"o{i}")))
        t.start()
        t.join()
    assert fds() <= before + 2
    assert [r[0] for r in idx.scan("bk", "", True, None, 1000)][:3] == ["o0", "o1", "o10"]
    idx.close()


def test_concurrent_threads_share_at_most_pool_size_connections(tmp_path: Path) -> None:
    idx = Index(str(tmp_path))
    idx.open()
    before = fds()
    start = threading.Barrier(40)

    def work(i: int) -> None:
        start.wait()
        for j in range(20):
            idx.upsert("bk", meta(f"{i}-{j}"))
            list(idx.page("bk", "", "", 5, "/"))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # each SQLite connection in WAL mode holds up to three descriptors (db, -wal, -shm)
    assert fds() <= before + 3 * POOL_SIZE
    assert len(idx.scan("bk", "", True, None, 10_000)) == 800
    idx.close()


def test_a_failed_transaction_does_not_poison_the_pool(tmp_path: Path) -> None:
    idx = Index(str(tmp_path))
    idx.open()
    try:
        with idx._conn() as conn:
            conn.execute("BEGIN")
            conn.execute("INSERT INTO objects (bkey, name, size) VALUES ('bk', 'ghost', 1)")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    idx.upsert("bk", meta("real"))
    assert [r[0] for r in idx.scan("bk", "", True, None, 10)] == ["real"]
    idx.close()
