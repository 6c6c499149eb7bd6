"""An acknowledged PUT survives a power loss: after the rename that commits an object (a single
PUT, a multipart completion, an uploaded part) the folder holding the new name is fsynced, and
so is the parent of every folder the commit had to create."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aismesh.cmn.names import Bck
from aismesh.protos import storage_pb2, types_pb2
from services.storage import durable, layout
from services.storage.mpu import MIN_PART_SIZE, Uploads
from services.storage.store import PutSpec, Store

BCK = Bck("b")
BID = 3


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store("t1", [str(tmp_path / "mp1")])
    s.open()
    yield s
    s.close()


Synced = list[tuple[int, bool]]  # (inode, is a folder) of every fsync, in order


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Synced:
    seen: Synced = []
    real: Callable[[int], None] = os.fsync

    def spy(fd: int) -> None:
        st = os.fstat(fd)
        seen.append((st.st_ino, stat.S_ISDIR(st.st_mode)))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return seen


def inode(path: str) -> int:
    return os.stat(path).st_ino


def test_put_fsyncs_the_folder_after_the_rename(store: Store, synced: Synced) -> None:
    store.put(PutSpec(bck=BCK, bid=BID, name="first"), [b"x" * 100])
    mp = store.mountpaths[0]
    final = layout.object_path(mp, BCK, BID, "first")
    folder = os.path.dirname(final)
    assert (inode(folder), True) in synced
    # the folder's fsync comes after the file's own (data, then the name that points at it)
    files = [i for i, (_, is_dir) in enumerate(synced) if not is_dir]
    assert synced.index((inode(folder), True)) > files[-1]
    # every folder the commit created is named durably in its parent
    created = []
    path = folder
    while path != mp:
        created.append(path)
        path = os.path.dirname(path)
    for d in created:
        assert (inode(os.path.dirname(d)), True) in synced, f"{os.path.dirname(d)} not fsynced"


def test_overwrite_costs_one_folder_fsync(store: Store, synced: Synced) -> None:
    store.put(PutSpec(bck=BCK, bid=BID, name="o"), [b"1"])
    synced.clear()
    store.put(PutSpec(bck=BCK, bid=BID, name="o"), [b"2"])
    assert [is_dir for _, is_dir in synced] == [False, True]


def test_multipart_part_and_completion_are_durable(store: Store, synced: Synced) -> None:
    uploads = Uploads(store)
    ref = types_pb2.BucketRef(bck=BCK.to_proto(), bid=BID)
    info = uploads.create(storage_pb2.CreateUploadRequest(bucket=ref, name="mp"))
    upload_dir = layout.sys_path(store.mountpaths[0], "mpu", info.upload_id)
    assert (inode(upload_dir), True) in synced
    parts = []
    for n, size in ((1, MIN_PART_SIZE), (2, 10)):
        synced.clear()
        hdr = storage_pb2.PartHeader(bucket=ref, name="mp", upload_id=info.upload_id, part_number=n, size=size)
        parts.append(uploads.put_part(hdr, [b"p" * size]))
        assert (inode(upload_dir), True) in synced
    synced.clear()
    uploads.complete(storage_pb2.CompleteUploadRequest(bucket=ref, name="mp", upload_id=info.upload_id,
                                                       parts=parts))
    final = layout.object_path(store.mountpaths[0], BCK, BID, "mp")
    assert (inode(os.path.dirname(final)), True) in synced


def test_makedirs_is_idempotent_and_race_safe(tmp_path: Path) -> None:
    target = str(tmp_path / "a" / "b" / "c")
    durable.makedirs(target)
    durable.makedirs(target)
    assert os.path.isdir(target)
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(FileExistsError):
        durable.makedirs(str(tmp_path / "file"))
