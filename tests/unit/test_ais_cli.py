"""The `ais` CLI's pure parts: URIs, sizes, tables, KEY=VALUE pairs, the parser, the completion script."""

from __future__ import annotations

import io
import subprocess

import pytest

from aismesh.cli import commands, fmt, main, uri
from aismesh.cli.api import CLIError
from aismesh.cli.completion import bash_script, tree


@pytest.mark.parametrize(("text", "bck", "obj"), [
    ("ais://b", uri.BucketURI("ais", "b"), ""),
    ("ais://b/dir/o.txt", uri.BucketURI("ais", "b"), "dir/o.txt"),
    ("s3://b/o", uri.BucketURI("aws", "b"), "o"),
    ("gs://b", uri.BucketURI("gcp", "b"), ""),
    ("b", uri.BucketURI("ais", "b"), ""),
    ("ais://@remais#ns/b/o", uri.BucketURI("ais", "b", "remais", "ns"), "o"),
    ("ais://", uri.BucketURI("ais", ""), ""),
])
def test_parse_uri(text: str, bck: uri.BucketURI, obj: str) -> None:
    assert uri.parse(text) == (bck, obj)


def test_uri_round_trip_and_query() -> None:
    b = uri.BucketURI("ais", "b", "remais", "ns")
    assert str(b) == "ais://@remais#ns/b" and b.query() == {"provider": "ais", "namespace": "@remais#ns"}
    assert str(uri.BucketURI("aws", "x")) == "s3://x"


@pytest.mark.parametrize("bad", ["zz://b", "ais://b/o"])
def test_parse_bucket_refuses(bad: str) -> None:
    with pytest.raises(ValueError):
        uri.parse_bucket(bad)


@pytest.mark.parametrize(("n", "text"), [(0, "0B"), (1023, "1023B"), (1024, "1.00KiB"), (3 << 19, "1.50MiB"),
                                         (5 << 30, "5.00GiB")])
def test_size_iec(n: int, text: str) -> None:
    assert fmt.size_iec(n) == text


def test_table_aligns_without_trailing_spaces() -> None:
    out = io.StringIO()
    fmt.table(out, ("NAME", "SIZE"), [("a", "1B"), ("long-name", "")])
    assert out.getvalue() == "NAME       SIZE\na          1B\nlong-name\n"


def test_pairs_accept_both_spellings() -> None:
    assert commands._pairs(["a.b=1", "c", "2"]) == {"a.b": "1", "c": "2"}
    with pytest.raises(CLIError, match="missing value"):
        commands._pairs(["lonely"])


def test_parser_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main.main(["bucket", "create"])
    assert ei.value.code == 2 and "Incorrect Usage" in capsys.readouterr().err


def test_completion_tree_and_script() -> None:
    t = tree(main.build_parser())
    assert t[""][0] == ["archive", "blob-download", "bucket", "cluster", "config", "get", "job", "ls", "object", "put",
                        "show"]
    assert t["cluster"][0] == ["remote-attach", "remote-detach"]
    assert "remote-cluster" in t["show"][0]
    assert t["bucket props"][0] == ["set", "show"] and t["bucket props show"][2]
    assert "--completion" not in t[""][1]
    out = io.StringIO()
    assert main.main(["--completion"], out) == 0
    script = out.getvalue()
    assert script == bash_script(main.build_parser())
    assert '"bucket props set") words="--help --json-props --reset access= backend_bck.name=' in script
    assert "complete -o default -F _ais_complete ais" in script


def test_completion_script_completes_in_bash(tmp_path: pytest.TempPathFactory) -> None:
    out = io.StringIO()
    main.main(["--completion"], out)
    probe = out.getvalue() + """
COMP_WORDS=(ais bucket pr); COMP_CWORD=2; _ais_complete; echo "${COMPREPLY[@]}"
COMP_WORDS=(ais bucket props s); COMP_CWORD=3; _ais_complete; echo "${COMPREPLY[@]}"
COMP_WORDS=(ais show job --a); COMP_CWORD=3; _ais_complete; echo "${COMPREPLY[@]}"
COMP_WORDS=(ais bucket props set ais://b mirror.c); COMP_CWORD=5; _ais_complete; echo "${COMPREPLY[@]}"
"""
    r = subprocess.run(["bash", "-c", "ais() { :; }\n" + probe], capture_output=True, text=True, check=True)
    assert r.stdout.splitlines() == ["props", "set show", "--all", "mirror.copies="]
