"""`ais object cat` and `ais archive`: shard names inside object names, the parser, completion."""

from __future__ import annotations

import io
import subprocess
from typing import Any

import pytest

from aismesh.cli import archcmds, main
from aismesh.cli.api import CLIError


@pytest.mark.parametrize(("name", "shard", "path"), [
    ("s.tar", "s.tar", ""),
    ("s.tar/a/b.jpg", "s.tar", "a/b.jpg"),
    ("dir/s.tar.lz4/x", "dir/s.tar.lz4", "x"),
    ("a.zip/in.tar/f", "a.zip", "in.tar/f"),  # the first archive in the name is the shard
    ("s.TGZ/f", "s.TGZ", "f"),
    ("plain/obj", "plain/obj", ""),
])
def test_split_shard(name: str, shard: str, path: str) -> None:
    assert archcmds.split_shard(name) == (shard, path)


def test_archive_commands_parse() -> None:
    p = main.build_parser()
    a = p.parse_args(["archive", "bucket", "ais://src", "ais://dst/a.tar.lz4", "--template", "o{1..3}", "--wait"])
    assert a.func is archcmds.archive_bucket and a.template == "o{1..3}" and a.dst == "ais://dst/a.tar.lz4"
    a = p.parse_args(["object", "cat", "ais://b/o", "--offset", "2", "--length", "3"])
    assert a.func is archcmds.object_cat and (a.offset, a.length) == (2, 3)
    a = p.parse_args(["archive", "get", "ais://b/s.tar/x", "-"])
    assert a.func is archcmds.archive_get and a.dst == "-"


def test_completion_knows_the_archive_commands() -> None:
    out = io.StringIO()
    main.main(["--completion"], out)
    probe = out.getvalue() + """
COMP_WORDS=(ais archive ""); COMP_CWORD=2; _ais_complete; echo "${COMPREPLY[@]}"
COMP_WORDS=(ais object c); COMP_CWORD=2; _ais_complete; echo "${COMPREPLY[@]}"
COMP_WORDS=(ais archive put f ais://b/s.tar --app); COMP_CWORD=5; _ais_complete; echo "${COMPREPLY[@]}"
"""
    r = subprocess.run(["bash", "-c", "ais() { :; }\n" + probe], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines() == ["bucket get ls put --help", "cat", "--append --append-or-put"]


@pytest.mark.parametrize("ext", [".tar", ".tgz", ".tar.gz", ".zip", ".tar.lz4"])
def test_extract_shard_next_to_it(tmp_path: Any, ext: str) -> None:
    from services.gateway.native import archive

    fmt = archive.format_of("x" + ext)
    shard = tmp_path / f"s{ext}"
    with open(shard, "wb") as f:
        archive.write_shard(f, fmt, [("a/1.txt", b"one"), ("b.txt", b"two")])
    into = archcmds.extract_shard(str(shard), shard.name)
    assert into == str(tmp_path / "s")
    assert (tmp_path / "s" / "a" / "1.txt").read_bytes() == b"one" and (tmp_path / "s" / "b.txt").read_bytes() == b"two"


@pytest.mark.parametrize("ext", [".tar", ".zip"])
def test_extract_shard_refuses_names_outside(tmp_path: Any, ext: str) -> None:
    from services.gateway.native import archive

    shard = tmp_path / f"evil{ext}"
    with open(shard, "wb") as f:
        archive.write_shard(f, archive.format_of(shard.name), [("../escaped.txt", b"x")])
    with pytest.raises(CLIError):
        archcmds.extract_shard(str(shard), shard.name)
    assert not (tmp_path / "escaped.txt").exists()
