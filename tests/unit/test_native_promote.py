"""Promote's pure parts: which paths may be read, object names, the files of a directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aismesh.cmn import errors
from services.gateway.native import promote


def test_checked_source(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "out"
    root.mkdir()
    outside.mkdir()
    (root / "f").write_bytes(b"x")
    (outside / "g").write_bytes(b"y")
    (root / "to-out").symlink_to(outside / "g")
    (root / "to-in").symlink_to(root / "f")
    roots = [os.path.realpath(root)]
    assert promote.checked_source(str(root / "f"), roots) == str(root / "f")
    assert promote.checked_source(str(root), roots) == str(root)
    cases = [(str(outside / "g"), errors.AccessDenied), (str(root / "to-out"), errors.AccessDenied),
             (str(root / "to-in"), errors.InvalidArgument), (str(root / "nope"), errors.NotFound),
             ("f", errors.InvalidArgument), (str(root) + "x/f", errors.AccessDenied),
             (str(root / ".." / "out" / "g"), errors.AccessDenied)]
    for path, err in cases:
        with pytest.raises(err):
            promote.checked_source(path, roots)


def test_object_name_and_files_under(tmp_path: Path) -> None:
    assert promote.object_name("", "a/b") == "a/b"
    assert promote.object_name("pre/", "a/b") == "pre/a/b"
    assert promote.object_name("exact", "a/b") == "exact"
    (tmp_path / "d" / "sub").mkdir(parents=True)
    for rel in ("d/2", "d/1", "d/sub/3"):
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "d" / "link").symlink_to(tmp_path / "d" / "1")
    flat = [rel for _, rel in promote.files_under(str(tmp_path / "d"), recursive=False)]
    deep = [rel for _, rel in promote.files_under(str(tmp_path / "d"), recursive=True)]
    assert flat == ["1", "2"] and deep == ["1", "2", "sub/3"]


def test_promote_args_from_msg() -> None:
    a = promote.PromoteArgs.from_msg({"action": "promote", "name": "/p", "value": {"src": "/p/x", "obj": "o",
                                                                                   "rcr": True, "dls": True}})
    assert a == promote.PromoteArgs(src="/p/x", obj="o", recursive=True, overwrite=False, delete_source=True)
    with pytest.raises(errors.InvalidArgument):
        promote.PromoteArgs.from_msg({"action": "promote", "value": {}})
