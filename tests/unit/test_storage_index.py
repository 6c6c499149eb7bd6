"""The storage node's listing index and on-disk layout."""

import os

import pytest

from aismesh.cmn.errors import InvalidArgument
from aismesh.cmn.names import Bck
from services.storage import layout
from services.storage.index import Index, upper_bound
from services.storage.objmeta import ObjMeta


def test_upper_bound() -> None:
    assert upper_bound("") is None
    assert upper_bound("a/") == "a0"
    assert upper_bound("ab") == "ac"


@pytest.fixture
def index(tmp_path: object) -> Index:
    idx = Index(str(tmp_path))
    idx.open()
    names = ["a", "a/b", "a/c/d", "a/c/e", "b", "c/x", "c/y", "d"]
    for n in names:
        idx.upsert("bk", ObjMeta(name=n, size=len(n), cks_type="xxhash", cks_value="0", version="1",
                                 atime_ns=1, mtime_ns=1))
    return idx


def names(rows: object) -> list[tuple[str, bool]]:
    return [(row[0], is_dir) for row, is_dir in rows]  # type: ignore[attr-defined]


def test_page_plain_prefix_and_start_after(index: Index) -> None:
    assert [n for n, _ in names(index.page("bk", "", "", 100, ""))] == \
        ["a", "a/b", "a/c/d", "a/c/e", "b", "c/x", "c/y", "d"]
    assert names(index.page("bk", "a/", "", 100, "")) == [("a/b", False), ("a/c/d", False), ("a/c/e", False)]
    assert names(index.page("bk", "", "a/c/d", 2, "")) == [("a/c/e", False), ("b", False)]


def test_page_delimiter_rolls_up(index: Index) -> None:
    assert names(index.page("bk", "", "", 100, "/")) == [("a", False), ("a/", True), ("b", False), ("c/", True),
                                                         ("d", False)]
    assert names(index.page("bk", "a/", "", 100, "/")) == [("a/b", False), ("a/c/", True)]
    # resuming after a common prefix skips everything under it
    assert names(index.page("bk", "", "a/", 100, "/")) == [("b", False), ("c/", True), ("d", False)]


def test_rebuild_after_unclean_stop(tmp_path: object) -> None:
    mp = str(tmp_path)
    bck = Bck("b")
    path = layout.object_path(mp, bck, 7, "x/y")
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as f:
        f.write(b"123")
        os.setxattr(f.fileno(), "user.ais.meta", ObjMeta(name="x/y", size=3, cks_type="xxhash", cks_value="1",
                                                          version="1", atime_ns=1, mtime_ns=1).encode())
    idx = Index(mp)
    idx.open()  # no clean marker: rebuilt from the xattrs
    assert names(idx.page(layout.bucket_key(bck, 7), "", "", 10, "")) == [("x/y", False)]


def test_layout_never_uses_the_name() -> None:
    p = layout.object_path("/mp", Bck("b"), 3, "../../../etc/passwd")
    assert p.startswith("/mp/@ais/@#/b/3/%ob/") and ".." not in p
    assert layout.parse_bucket_dir("/mp", layout.bucket_dir("/mp", Bck("b", ns_uuid="u", ns_name="n"), 3)) == \
        (Bck("b", ns_uuid="u", ns_name="n"), 3)
    with pytest.raises(InvalidArgument):
        layout.bucket_dir("/mp", Bck(".."), 1)


def test_upper_bound_skips_surrogates_and_max() -> None:
    assert upper_bound("a\ud7ff") == "a\ue000"
    assert upper_bound("a\U0010ffff") == "b"
    assert upper_bound("\U0010ffff") is None
    bound = upper_bound("x\ud7ff")
    assert bound is not None
    bound.encode("utf-8")  # usable as a SQLite parameter
