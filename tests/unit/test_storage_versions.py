"""S3 object versions on one storage node's Store: what each write and delete keeps, what
GET by version id finds, the versions listing (order, markers, paging, delimiters) and the
index rebuilt from the files."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aismesh.cmn import errors
from aismesh.cmn.names import Bck
from services.storage import versions
from services.storage.store import PutSpec, Store
from services.storage.versioning import VersionEntry

BCK = Bck("vb")
BID = 3


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store("t1", [str(tmp_path / "mp1"), str(tmp_path / "mp2")])
    s.open()
    yield s
    s.close()


def set_mode(store: Store, mode: str, version: int = 1) -> None:
    store.apply_bmd(store.bmd_version + 1 if version == 1 else version, {(BCK.uname, BID)},
                    s3_modes={(BCK.uname, BID): mode} if mode else {})


def put(store: Store, name: str, data: bytes) -> str:
    return store.put(PutSpec(bck=BCK, bid=BID, name=name, size=len(data)), [data]).version


def read(store: Store, name: str, vid: str = "") -> bytes:
    fd, meta, _ = store.versioning.open_version(BCK, BID, name, vid) if vid else store.open_object(BCK, BID, name)
    try:
        return os.pread(fd, meta.size + 1, 0)
    finally:
        os.close(fd)


def listing(store: Store, prefix: str = "", delimiter: str = "") -> list[VersionEntry]:
    entries, more = store.versioning.list_versions(BCK, BID, prefix, "", "", 1000, delimiter)
    assert not more
    return entries


def test_version_ids_grow_and_are_url_safe() -> None:
    clock = versions.VidClock("t1")
    ids = [clock.next() for _ in range(1000)]
    assert ids == sorted(ids) and len(set(ids)) == 1000
    assert all(versions.is_vid(v) and v.isalnum() for v in ids)
    assert versions.is_valid_vid("null") and not versions.is_valid_vid("1") and not versions.is_valid_vid("")


def test_unversioned_bucket_keeps_one_object(store: Store) -> None:
    set_mode(store, "")
    put(store, "k", b"one")
    put(store, "k", b"two")
    entries = listing(store)
    assert [(e.attrs.name, e.version_id, e.is_latest) for e in entries] == [("k", "null", True)]
    store.delete(BCK, BID, "k")
    with pytest.raises(errors.ObjectNotFound):
        store.delete(BCK, BID, "k")
    assert listing(store) == []


def test_enabled_keeps_every_version_newest_first(store: Store) -> None:
    put(store, "k", b"before")  # written before versioning: the null version
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"first")
    v2 = put(store, "k", b"second")
    assert versions.is_vid(v1) and v1 < v2
    assert read(store, "k") == b"second"
    assert read(store, "k", v1) == b"first" and read(store, "k", "null") == b"before"
    entries = listing(store)
    assert [(e.version_id, e.is_latest, e.attrs.size) for e in entries] == [
        (v2, True, 6), (v1, False, 5), ("null", False, 6)]
    with pytest.raises(errors.NotFound) as e:
        store.versioning.open_version(BCK, BID, "k", "0" * 20)
    assert e.value.reason == "no-such-version"


def test_delete_marker_hides_the_object_and_removing_it_brings_it_back(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"data")
    done = store.delete(BCK, BID, "k")
    assert done.is_delete_marker and versions.is_vid(done.version_id)
    with pytest.raises(errors.ObjectNotFound) as e:
        store.open_object(BCK, BID, "k")
    assert e.value.reason == f"delete-marker:{done.version_id}"
    assert store.list_page(BCK, BID, "", "", 10, "", False)[0] == []  # the native listing: gone
    with pytest.raises(errors.NotFound) as e2:
        store.versioning.open_version(BCK, BID, "k", done.version_id)
    assert e2.value.reason == "version-is-delete-marker"
    entries = listing(store)
    assert [(e.version_id, e.is_latest, e.is_delete_marker) for e in entries] == [
        (done.version_id, True, True), (v1, False, False)]
    gone = store.versioning.delete_version(BCK, BID, "k", done.version_id)
    assert gone.is_delete_marker and gone.found
    assert read(store, "k") == b"data"
    assert [(e.version_id, e.is_latest) for e in listing(store)] == [(v1, True)]


def test_deleting_the_latest_version_promotes_the_previous(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"one")
    v2 = put(store, "k", b"two")
    store.versioning.delete_version(BCK, BID, "k", v2)
    assert read(store, "k") == b"one"
    assert store.head(BCK, BID, "k").version == v1
    store.versioning.delete_version(BCK, BID, "k", v1)
    assert listing(store) == []
    assert not store.versioning.delete_version(BCK, BID, "k", v1).found


def test_suspended_overwrites_the_null_version(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"kept")
    set_mode(store, versions.SUSPENDED)
    put(store, "k", b"null one")
    put(store, "k", b"null two")
    assert [(e.version_id, e.is_latest) for e in listing(store)] == [("null", True), (v1, False)]
    assert read(store, "k", "null") == b"null two"
    done = store.delete(BCK, BID, "k")
    assert (done.version_id, done.is_delete_marker) == ("null", True)
    assert [(e.version_id, e.is_delete_marker) for e in listing(store)] == [("null", True), (v1, False)]


def test_listing_pages_by_markers_and_rolls_up_any_delimiter(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    ids = {n: [put(store, n, b"x"), put(store, n, b"yy")] for n in ("a-1", "a-2", "b|c", "d")}
    entries = listing(store, delimiter="-")
    assert [(e.attrs.name, e.attrs.is_dir) for e in entries] == [
        ("a-", True), ("b|c", False), ("b|c", False), ("d", False), ("d", False)]
    assert [e.attrs.name for e in listing(store, delimiter="|")] == ["a-1", "a-1", "a-2", "a-2", "b|", "d", "d"]
    assert [e.attrs.name for e in listing(store, prefix="a", delimiter="-1")] == ["a-1", "a-2", "a-2"]
    got: list[tuple[str, str]] = []
    key, vid = "", ""
    while True:
        page, more = store.versioning.list_versions(BCK, BID, "", key, vid, 3, "")
        got += [(e.attrs.name, e.version_id) for e in page]
        if not more:
            break
        key, vid = page[-1].attrs.name, page[-1].version_id
    assert got == [(n, v) for n in sorted(ids) for v in reversed(ids[n])]
    assert listing(store, prefix="zzz") == [] and listing(store, delimiter="nothing-like-it")[0].attrs.name == "a-1"


def test_index_rebuilt_from_files_keeps_versions(tmp_path: Path) -> None:
    mps = [str(tmp_path / "mp")]
    s = Store("t1", mps)
    s.open()
    set_mode(s, versions.ENABLED)
    v1 = put(s, "k", b"one")
    marker = s.delete(BCK, BID, "k").version_id
    before = [(e.version_id, e.is_latest, e.is_delete_marker) for e in listing(s)]
    s.close()
    os.unlink(s.indexes[mps[0]].clean_marker)  # as after a crash: the index is rebuilt from xattrs
    s2 = Store("t1", mps)
    s2.open()
    set_mode(s2, versions.ENABLED)
    assert [(e.version_id, e.is_latest, e.is_delete_marker) for e in listing(s2)] == before
    assert before == [(marker, True, True), (v1, False, False)]
    s2.drop_bucket(BCK, BID)
    assert listing(s2) == []
    s2.close()


def test_a_failed_overwrite_keeps_versions_as_they_were(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"one")
    before = [(e.version_id, e.is_latest) for e in listing(store)]
    with pytest.raises(errors.InvalidArgument):  # metadata too large for the xattr: nothing stored
        store.put(PutSpec(bck=BCK, bid=BID, name="k", size=3, custom={"m": "x" * 70_000}), [b"two"])
    assert [(e.version_id, e.is_latest) for e in listing(store)] == before == [(v1, True)]
    assert read(store, "k") == b"one"


def test_older_versions_are_their_own_files(store: Store) -> None:
    set_mode(store, versions.ENABLED)
    v1 = put(store, "k", b"one")
    put(store, "k", b"two")
    store.delete(BCK, BID, "k")  # the current file goes; the older versions stay readable
    assert read(store, "k", v1) == b"one"
    assert [e.attrs.size for e in listing(store) if not e.is_delete_marker] == [3, 3]


_OPS = st.lists(st.tuples(st.sampled_from(["put", "put", "delete", "delete_version"]),
                          st.sampled_from(["a", "a/b", "b", "b-c"]), st.integers(0, 5)), max_size=25)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=_OPS, page=st.integers(1, 4))
def test_versions_match_a_model(tmp_path: Path, ops: list[tuple[str, str, int]], page: int) -> None:
    """Any mix of writes and deletes: the listing (and its pages), the latest object and every
    version read by id are what a plain model of S3 versioning says."""
    run = len(os.listdir(tmp_path))  # hypothesis reuses tmp_path: a fresh pair of mountpaths per example
    store = Store("t1", [str(tmp_path / f"r{run}" / "mp1"), str(tmp_path / f"r{run}" / "mp2")])
    store.open()
    try:
        set_mode(store, versions.ENABLED)
        model: dict[str, list[tuple[str, bool, bytes]]] = {}  # newest first: (vid, is_marker, data)
        for op, name, n in ops:
            history = model.setdefault(name, [])
            if op == "put":
                data = f"{name}:{n}".encode()
                history.insert(0, (put(store, name, data), False, data))
            elif op == "delete":
                history.insert(0, (store.delete(BCK, BID, name).version_id, True, b""))
            elif history:
                vid = history.pop(n % len(history))[0]
                assert store.versioning.delete_version(BCK, BID, name, vid).found
        want = [(name, vid, i == 0, marker)
                for name in sorted(model) for i, (vid, marker, _) in enumerate(model[name])]
        got = [(e.attrs.name, e.version_id, e.is_latest, e.is_delete_marker) for e in listing(store)]
        assert got == want
        paged: list[tuple[str, str, bool, bool]] = []
        key, vid = "", ""
        while True:
            entries, more = store.versioning.list_versions(BCK, BID, "", key, vid, page, "")
            paged += [(e.attrs.name, e.version_id, e.is_latest, e.is_delete_marker) for e in entries]
            if not more:
                break
            key, vid = entries[-1].attrs.name, entries[-1].version_id
        assert paged == want
        for name, history in model.items():
            if history and not history[0][1]:
                assert read(store, name) == history[0][2]
            else:
                with pytest.raises(errors.ObjectNotFound):
                    read(store, name)
            for vid, marker, data in history:
                if not marker:
                    assert read(store, name, vid) == data
    finally:
        store.close()
