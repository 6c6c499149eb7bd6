"""The storage node's Store over temporary mountpaths: the write path, listings merged across
mountpaths (against a reference model), the index rebuild and the BMD cleanup rule."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aismesh.cmn import errors
from aismesh.cmn.checksum import compute
from aismesh.cmn.names import Bck
from aismesh.protos import types_pb2
from services.storage import layout
from services.storage.store import PutSpec, Store

BCK = Bck("b")
BID = 5
NAMES = ["a", "a/b", "a/c/d", "a/c/e", "b", "c/x", "c/y", "d", "..", "/lead", "x//y", "z" * 300 + "/w",
         "ünï/☃", "a/"]


def spec(name: str, **kw: object) -> PutSpec:
    return PutSpec(bck=BCK, bid=BID, name=name, **kw)  # type: ignore[arg-type]


def read_all(store: Store, name: str) -> bytes:
    fd, meta, _ = store.open_object(BCK, BID, name)
    try:
        return os.pread(fd, meta.size + 1, 0)
    finally:
        os.close(fd)


def model(names: list[str], prefix: str, start_after: str, delimiter: str) -> list[tuple[str, bool]]:
    """What a listing must return, computed the obvious way."""
    out: list[tuple[str, bool]] = []
    for n in sorted(names, key=lambda s: s.encode()):
        if not n.startswith(prefix):
            continue
        cut = n.find(delimiter, len(prefix)) if delimiter else -1
        entry = (n[:cut + 1], True) if cut >= 0 else (n, False)
        if entry[0] > start_after and (not out or out[-1] != entry):
            out.append(entry)
    return out


def list_all(store: Store, prefix: str, delimiter: str, page: int) -> list[tuple[str, bool]]:
    got: list[tuple[str, bool]] = []
    after = ""
    while True:
        entries, more = store.list_page(BCK, BID, prefix, after, page, delimiter, False)
        assert len(entries) <= page
        got += [(e.name, e.is_dir) for e in entries]
        if not more:
            return got
        after = entries[-1].name


def test_put_read_and_attrs(store: Store) -> None:
    for name in NAMES:
        attrs = store.put(spec(name, compute_md5=True), [name.encode(), b"!"])
        assert attrs.size == len(name.encode()) + 1
        assert attrs.checksum.value == compute("xxhash", name.encode() + b"!")
        assert attrs.etag == hashlib.md5(name.encode() + b"!").hexdigest()
        assert attrs.location.startswith("t[t1]:")
    for name in NAMES:
        assert read_all(store, name) == name.encode() + b"!"
    # both mountpaths hold objects (HRW spreads the names)
    assert len({store.mountpath_for(BCK, n) for n in NAMES}) == 2


def test_versions_count_up_only_with_versioning(store: Store) -> None:
    assert [store.put(spec("v", versioning=True), [b"x"]).version for _ in range(3)] == ["1", "2", "3"]
    assert store.put(spec("v", versioning=False), [b"x"]).version == "1"


def test_size_mismatch_and_bad_digest_store_nothing(store: Store) -> None:
    store.put(spec("k"), [b"old"])
    with pytest.raises(errors.InvalidArgument, match="received 5 bytes, but the request announced 10"):
        store.put(spec("k", size=10), [b"12345"])
    bad = types_pb2.Checksum(type="md5", value="00" * 16)
    with pytest.raises(errors.InvalidArgument, match="BadDigest"):
        store.put(spec("k", expected=bad), [b"new"])
    with pytest.raises(errors.InvalidArgument, match="sha256 checksum mismatch"):
        store.put(spec("k", expected=types_pb2.Checksum(type="sha256", value="ab")), [b"new"])
    assert read_all(store, "k") == b"old"
    good = types_pb2.Checksum(type="sha256", value=hashlib.sha256(b"new").hexdigest())
    assert store.put(spec("k", expected=good, cks_type="md5"), [b"new"]).checksum.value == \
        hashlib.md5(b"new").hexdigest()
    for mp in store.mountpaths:
        assert os.listdir(layout.sys_path(mp, "work")) == []


def test_failed_stream_leaves_the_old_object(store: Store) -> None:
    store.put(spec("k"), [b"old"])

    def broken() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        store.put(spec("k"), broken())
    assert read_all(store, "k") == b"old"
    assert all(os.listdir(layout.sys_path(mp, "work")) == [] for mp in store.mountpaths)


def test_remote_attrs_are_kept(store: Store) -> None:
    remote = types_pb2.ObjAttrs(etag="remote-etag", version="rv", mtime_ns=7)
    attrs = store.put(spec("r", remote=remote), [b"x"])
    assert (attrs.remote_etag, attrs.remote_version, attrs.remote_mtime_ns, attrs.etag) == \
        ("remote-etag", "rv", 7, "remote-etag")


def test_not_found_message(store: Store) -> None:
    with pytest.raises(errors.ObjectNotFound) as e:
        store.head(BCK, BID, "no/such")
    assert e.value.message == "t[t1]: ais://b/no/such does not exist"
    with pytest.raises(errors.ObjectNotFound):
        store.delete(BCK, BID, "no/such")


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(prefix=st.sampled_from(["", "a", "a/", "a/c/", "c", "z", "q"]), delimiter=st.sampled_from(["", "/"]),
       page=st.integers(1, 5))
def test_listing_pages_match_the_model(store: Store, prefix: str, delimiter: str, page: int) -> None:
    if not store.list_page(BCK, BID, "", "", 1, "", False)[0]:
        for name in NAMES:
            store.put(spec(name), [b"."])
    assert list_all(store, prefix, delimiter, page) == model(NAMES, prefix, "", delimiter)


def test_listing_attrs(store: Store) -> None:
    store.put(spec("n", custom={"k": "v"}, content_type="text/plain"), [b"abc"])
    [plain], _ = store.list_page(BCK, BID, "", "", 10, "", False)
    assert (plain.name, plain.size, plain.version, plain.checksum.value) == ("n", 3, "", "")
    [full], _ = store.list_page(BCK, BID, "", "", 10, "", True)
    assert (full.version, dict(full.custom), full.content_type) == ("1", {"k": "v"}, "text/plain")
    assert full.checksum.value == compute("xxhash", b"abc")


def test_index_rebuilt_after_an_unclean_stop(tmp_path: Path) -> None:
    mps = [str(tmp_path / "mp1"), str(tmp_path / "mp2")]
    s = Store("t1", mps)
    s.open()
    for name in NAMES:
        s.put(spec(name), [b"."])
    # a crash: no orderly close, and the index lost its last commits (or is gone)
    for mp in mps:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(layout.sys_path(mp, "index.db" + suffix)):
                os.unlink(layout.sys_path(mp, "index.db" + suffix))
    open(os.path.join(layout.sys_path(mps[0], "work"), "stale"), "w").close()
    s2 = Store("t1", mps)
    s2.open()
    assert list_all(s2, "", "", 100) == model(NAMES, "", "", "")
    assert os.listdir(layout.sys_path(mps[0], "work")) == []
    s2.close()
    assert all(os.path.exists(layout.sys_path(mp, "index.clean")) for mp in mps)


def test_bmd_drops_destroyed_incarnations_only(store: Store) -> None:
    other = Bck("other")
    store.put(spec("x"), [b"1"])
    store.put(PutSpec(bck=other, bid=9, name="y"), [b"2"])
    store.put(PutSpec(bck=other, bid=12, name="z"), [b"3"])  # newer than the BMD: never touched
    store.apply_bmd(10, {(BCK.uname, BID)})
    assert read_all(store, "x") == b"1"
    assert store.list_page(other, 9, "", "", 10, "", False) == ([], False)
    with pytest.raises(errors.BucketNotFound):
        store.head(other, 9, "y")
    assert [e.name for e in store.list_page(other, 12, "", "", 10, "", False)[0]] == ["z"]
    assert not any(os.path.exists(layout.bucket_dir(mp, other, 9)) for mp in store.mountpaths)
    store.drop_bucket(BCK, BID)  # evict
    with pytest.raises(errors.ObjectNotFound):
        store.head(BCK, BID, "x")
