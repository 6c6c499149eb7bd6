"""The per-object metadata xattr: encoding, decoding, and the file round trip."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aismesh.cmn.errors import InvalidArgument
from services.storage import objmeta
from services.storage.objmeta import ObjMeta


def sample() -> ObjMeta:
    return ObjMeta(name="dir/ünï ☃", size=5, cks_type="xxhash", cks_value="abc", version="3", atime_ns=1,
                   mtime_ns=2, content_type="text/plain", custom={"k": "v", "ключ": "значение"},
                   etag="d41d8cd98f00b204e9800998ecf8427e", remote_etag="re", remote_version="rv",
                   remote_mtime_ns=9)


def test_encode_is_compact_json_and_round_trips() -> None:
    m = sample()
    raw = m.encode()
    assert b", " not in raw and b": " not in raw
    assert json.loads(raw)["name"] == "dir/ünï ☃"
    assert ObjMeta.decode(raw) == m


def test_decode_ignores_fields_it_does_not_know() -> None:
    doc = json.loads(sample().encode())
    doc["added_by_a_newer_node"] = 1
    assert ObjMeta.decode(json.dumps(doc).encode()) == sample()
    with pytest.raises(ValueError):
        ObjMeta.decode(b"[1, 2]")


def test_to_attrs() -> None:
    a = sample().to_attrs("t[t1]:/mp")
    assert (a.name, a.size, a.checksum.type, a.checksum.value, a.version) == ("dir/ünï ☃", 5, "xxhash", "abc", "3")
    assert dict(a.custom) == {"k": "v", "ключ": "значение"} and a.location == "t[t1]:/mp" and a.is_cached
    assert (a.remote_etag, a.remote_version, a.remote_mtime_ns) == ("re", "rv", 9)


def test_xattr_round_trip_by_path_and_fd(tmp_path: Path) -> None:
    path = tmp_path / "obj"
    path.write_bytes(b"hello")
    objmeta.write(str(path), sample())
    assert objmeta.read(str(path)) == sample()
    fd = os.open(path, os.O_RDONLY)
    try:
        assert objmeta.read(fd) == sample()
    finally:
        os.close(fd)


def test_too_much_metadata_is_the_clients_error(tmp_path: Path) -> None:
    path = tmp_path / "obj"
    path.write_bytes(b"")
    m = sample()
    m.custom = {f"k{i}": "v" * 1000 for i in range(200)}
    with pytest.raises(InvalidArgument):
        objmeta.write(str(path), m)
