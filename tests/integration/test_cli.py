"""The `ais` console script against the running mesh: golden transcripts and what they cannot pin down.

Each ``tests/cli/NAME.in`` is a list of `ais` commands; ``NAME.stdout`` is what they print, in
order: stdout, then stderr, then ``[exit N]`` for a non-zero exit. ``$BUCKET``, ``$FILE`` (11
bytes), ``$BIGFILE`` (1.5 MiB) and ``$TMP`` are filled in per run and put back in the output.
``AISMESH_GOLDEN_UPDATE=1`` rewrites the ``.stdout`` files (review the diff before committing).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration
GOLDEN = Path(__file__).resolve().parent.parent / "cli"
AIS = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ais")


def ais(mesh: Any, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, AIS_ENDPOINT=mesh.url)
    return subprocess.run([AIS, *args], capture_output=True, env=env, input=stdin, timeout=60, check=False)


def transcript(mesh: Any, script: str, subs: dict[str, str]) -> str:
    """Run each command of ``script``; stdout, stderr and the exit code of each, in order."""
    out = []
    for line in script.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        for key, value in subs.items():
            line = line.replace(key, value)
        argv = shlex.split(line)
        assert argv[0] == "ais", line
        r = ais(mesh, *argv[1:])
        text = r.stdout.decode() + r.stderr.decode()
        if r.returncode:
            text += f"[exit {r.returncode}]\n"
        out.append(text)
    # Which storage node answers depends on HRW over the (random) bucket name.
    result = re.sub(r"t\[t\d+\]", "t[T]", "".join(out))
    result = re.sub(r"\bj[0-9a-f]{9}\b", "JOB_ID", result)  # job ids are random
    for key, value in sorted(subs.items(), key=lambda kv: -len(kv[1])):
        result = result.replace(value, key)
    return result


@pytest.mark.parametrize("name", sorted(p.stem for p in GOLDEN.glob("*.in")))
def test_golden(mesh: Any, tmp_path: Path, name: str) -> None:
    small, big = tmp_path / "hello.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello world")
    big.write_bytes(b"x" * (3 << 19))
    subs = {"$BUCKET": f"cli-{name.replace('_', '-')}-{os.urandom(3).hex()}", "$FILE": str(small),
            "$BIGFILE": str(big), "$TMP": str(tmp_path)}
    got = transcript(mesh, (GOLDEN / f"{name}.in").read_text(), subs)
    expected = GOLDEN / f"{name}.stdout"
    if os.environ.get("AISMESH_GOLDEN_UPDATE") == "1":
        expected.write_text(got)
    assert got == expected.read_text()


def test_ls_buckets_by_provider(mesh: Any) -> None:
    name = f"cli-ls-{os.urandom(3).hex()}"
    assert ais(mesh, "bucket", "create", f"ais://{name}").returncode == 0
    try:
        lines = ais(mesh, "ls").stdout.decode().splitlines()
        assert lines[0].startswith("AIS Buckets (") and f"  ais://{name}" in lines
        listed = json.loads(ais(mesh, "ls", "ais://", "--json").stdout)
        assert {"name": name, "provider": "ais", "namespace": {"uuid": "", "name": ""}} in listed
    finally:
        ais(mesh, "bucket", "rm", f"ais://{name}")


def test_put_from_stdin_and_get_to_stdout(mesh: Any) -> None:
    name = f"cli-io-{os.urandom(3).hex()}"
    ais(mesh, "bucket", "create", f"ais://{name}")
    try:
        r = ais(mesh, "put", "-", f"ais://{name}/in", stdin=b"from stdin")
        assert r.returncode == 0 and r.stdout.decode() == f"PUT (standard input) => ais://{name}/in\n"
        assert ais(mesh, "get", f"ais://{name}/in", "-").stdout == b"from stdin"
    finally:
        ais(mesh, "bucket", "rm", f"ais://{name}")


def test_show_cluster_and_config(mesh: Any) -> None:
    r = ais(mesh, "show", "cluster")
    text = r.stdout.decode()
    assert r.returncode == 0 and "gateway[P]" in text and all(f"\nt{i} " in text for i in (1, 2, 3))
    doc = json.loads(ais(mesh, "show", "cluster", "--json").stdout)
    assert set(doc["smap"]["tmap"]) == {"t1", "t2", "t3"}
    r = ais(mesh, "config", "cluster", "checksum")
    assert r.returncode == 0 and "checksum.type" in r.stdout.decode()
    assert "features" in json.loads(ais(mesh, "config", "cluster", "--json").stdout)


def test_show_job_after_a_copy(mesh: Any) -> None:
    from aistore.sdk import Client

    client = Client(mesh.url)
    src = client.bucket(f"cli-job-{os.urandom(3).hex()}")
    src.create()
    dst = client.bucket(src.name + "-dst")
    try:
        src.object("o").get_writer().put_content(b"abc")
        job = src.copy(dst)
        client.job(job).wait(timeout=30, verbose=False)
        r = ais(mesh, "show", "job", job)
        text = r.stdout.decode()
        assert r.returncode == 0 and job in text and "copy-bck" in text and "Finished" in text
        assert f"ais://{src.name} => ais://{dst.name}" in text
        snaps = json.loads(ais(mesh, "show", "job", "--all", "--json").stdout)
        assert job in {s["id"] for s in snaps}
    finally:
        src.delete(missing_ok=True)
        dst.delete(missing_ok=True)


def test_unreachable_endpoint_is_a_clear_error() -> None:
    env = dict(os.environ, AIS_ENDPOINT="http://127.0.0.1:9")
    r = subprocess.run([AIS, "ls"], capture_output=True, env=env, timeout=60, check=False)
    assert r.returncode == 1 and b"cannot reach AIS at http://127.0.0.1:9" in r.stderr
