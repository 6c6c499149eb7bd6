"""Archives and the batch GET request: pure parts, over in-memory files."""

from __future__ import annotations

import io

import pytest

from aismesh.cmn.errors import InvalidArgument
from services.gateway.native import archive, batch

FILES = [("a/1.jpg", b"one"), ("a/1.cls", b"c1"), ("b/2.jpg", b"two")]


@pytest.mark.parametrize("fmt", ["tar", "tgz", "zip", "tar.lz4"])
def test_write_list_extract_round_trip(fmt: str) -> None:
    f = io.BytesIO()
    archive.write_shard(f, fmt, FILES)
    assert archive.members(f, fmt) == [archive.Member(n, len(d)) for n, d in FILES]
    assert archive.extract(f, fmt, "b/2.jpg") == b"two"
    assert archive.extract(f, fmt, "nope") is None


def test_not_an_archive_is_invalid_argument() -> None:
    with pytest.raises(InvalidArgument, match="not a valid tar archive"):
        archive.members(io.BytesIO(b"plain bytes, no tar header here" * 40), "tar")
    with pytest.raises(InvalidArgument, match=r"not a valid tar\.lz4 archive"):
        archive.members(io.BytesIO(b"not an lz4 frame" * 40), "tar.lz4")


def test_with_file_appends_or_replaces_in_place() -> None:
    files = [("a", b"1"), ("b", b"2")]
    assert archive.with_file(files, "c", b"3") == [("a", b"1"), ("b", b"2"), ("c", b"3")]
    assert archive.with_file(files, "a", b"new") == [("a", b"new"), ("b", b"2")]


@pytest.mark.parametrize(("name", "fmt"), [("x.tar", "tar"), ("x.TAR.GZ", "tgz"), ("x.tgz", "tgz"), ("x.zip", "zip"),
                                           ("x.tar.lz4", "tar.lz4"), ("x.txt", "")])
def test_format_of(name: str, fmt: str) -> None:
    assert archive.format_of(name) == fmt


@pytest.mark.parametrize(("pattern", "mode", "picked"), [
    (".jpg", "suffix", ["a/1.jpg", "b/2.jpg"]), ("a/", "prefix", ["a/1.jpg", "a/1.cls"]),
    ("1.", "substr", ["a/1.jpg", "a/1.cls"]), (r"^b/\d", "regexp", ["b/2.jpg"]),
    ("a/1", "wdskey", ["a/1.jpg", "a/1.cls"]),
])
def test_select_modes(pattern: str, mode: str, picked: list[str]) -> None:
    f = io.BytesIO()
    archive.write_shard(f, "tar", FILES)
    out = io.BytesIO(archive.select(f, "tar", pattern, mode))
    assert [m.name for m in archive.members(out, "tar")] == picked


@pytest.mark.parametrize(("pattern", "mode", "words"), [("x", "fuzzy", "archmode"), ("(", "regexp", "archregx")])
def test_select_refuses(pattern: str, mode: str, words: str) -> None:
    f = io.BytesIO()
    archive.write_shard(f, "tar", FILES)
    with pytest.raises(InvalidArgument, match=words):
        archive.select(f, "tar", pattern, mode)


def test_batch_request_defaults_and_refusals() -> None:
    items, fmt = batch.parse_request({"in": [{"objname": "o", "start": 2, "length": 3}], "mime": ".tgz"}, "b", "ais")
    assert fmt == "tgz" and items == [batch.Item("o", "b", "ais", start=2, length=3)]
    for doc, words in (({"in": []}, '"in"'), ({"in": [{"objname": "o"}], "mime": ".rar"}, "mime"),
                       ({"in": [{"x": 1}]}, "objname"), ({"in": [{"objname": "o", "start": -1}]}, "start")):
        with pytest.raises(InvalidArgument, match=words):
            batch.parse_request(doc, "b", "ais")
    with pytest.raises(InvalidArgument, match="names no bucket"):
        batch.parse_request({"in": [{"objname": "o"}]}, "", "ais")
