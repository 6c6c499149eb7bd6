"""The 1.x line of the `aistore` SDK (the latest 1.x release, unmodified) against a mesh of its own: an aws
backend (moto) for prefetch and blob download, a promote root for promote.

The venv holds the 2.x SDK, so the 1.x release is installed into its own target directory
(``.cache/aistore1``, once, quietly) and the cases below run in a subprocess whose PYTHONPATH puts
it first. Run as a script (``python test_native_sdk_v1.py URL``) the file is that subprocess: it
runs every ``case_*`` function and prints one JSON line per case; collected by pytest it starts
the subprocess once and turns each line into a test.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import traceback
from collections.abc import Callable
from typing import Any

SDK1_SPEC = "aistore>=1.26,<2"  # the last release of the 1.x line (1.26.0) and any later 1.x fix
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SDK1_DIR = os.path.join(ROOT, ".cache", "aistore1")


# ---- the cases: run inside the subprocess, with `aistore` 1.x importable --------------------------

def _bucket(client: Any, stem: str) -> Any:
    b = client.bucket(f"v1-{stem}-{os.urandom(3).hex()}")
    b.create()
    return b


def _fill(b: Any, names: list[str]) -> None:
    for n in names:
        b.object(n).get_writer().put_content(n.encode())


def _names(b: Any, **kw: Any) -> list[str]:
    return [e.name for e in b.list_all_objects(**kw)]


def case_cluster_map(client: Any) -> None:
    cl = client.cluster()
    smap = cl.get_info()
    assert set(smap.tmap) == {"t1", "t2", "t3"} and "gateway" in smap.pmap, smap
    assert cl.is_ready()
    assert cl.get_uuid()


def case_bucket_crud(client: Any) -> None:
    from aistore.sdk.errors import AISError

    b = _bucket(client, "crud")
    try:
        assert b.name in [x.name for x in client.cluster().list_buckets()]
        assert json.loads(b.head()["Ais-Bucket-Props"])["provider"] == "ais"
        b.create(exist_ok=True)
        try:
            b.create()
            raise AssertionError("a second create succeeded")
        except AISError as e:
            assert e.status_code == 409, e
    finally:
        b.delete()
    try:
        b.head()
        raise AssertionError("head of a deleted bucket succeeded")
    except AISError as e:  # a HEAD has no body to name the bucket: the SDK sees the bare 404
        assert e.status_code == 404, e
    try:
        b.list_objects()
        raise AssertionError("listing a deleted bucket succeeded")
    except AISError as e:
        assert type(e).__name__ == "ErrBckNotFound" and b.name in str(e), e


def case_put_get_range(client: Any) -> None:
    b = _bucket(client, "rng")
    try:
        obj = b.object("dir/o")
        obj.get_writer().put_content(b"0123456789")
        assert obj.get_reader().read_all() == b"0123456789"
        assert obj.get_reader(byte_range="bytes=2-4").read_all() == b"234"
        assert obj.get_reader(byte_range="bytes=7-").read_all() == b"789"
        assert obj.get_reader(byte_range="bytes=-2").read_all() == b"89"
    finally:
        b.delete(missing_ok=True)


def case_head_attrs(client: Any) -> None:
    b = _bucket(client, "head")
    try:
        obj = b.object("o")
        obj.get_writer().put_content(b"hello")
        props = obj.props
        assert props.size == 5 and props.present and props.checksum_type and props.checksum_value
        assert props.obj_version == "1" and props.access_time.isdigit()
    finally:
        b.delete(missing_ok=True)


def case_list_flags(client: Any) -> None:
    from aistore.sdk import ListObjectFlag

    b = _bucket(client, "ls")
    try:
        _fill(b, ["d1/a", "d1/b", "d2/c", "top"])
        assert _names(b) == ["d1/a", "d1/b", "d2/c", "top"]
        assert _names(b, prefix="d1/") == ["d1/a", "d1/b"]
        assert _names(b, flags=[ListObjectFlag.NAME_ONLY]) == ["d1/a", "d1/b", "d2/c", "top"]
        entries = b.list_objects(flags=[ListObjectFlag.NO_RECURSION]).entries
        assert [e.name for e in entries] == ["d1/", "d2/", "top"]
        sized = b.list_objects(flags=[ListObjectFlag.NAME_SIZE]).entries
        assert [e.size for e in sized] == [4, 4, 4, 3]
        page = b.list_objects(page_size=2)
        assert [e.name for e in page.entries] == ["d1/a", "d1/b"] and page.continuation_token
    finally:
        b.delete(missing_ok=True)


def case_object_group_delete(client: Any) -> None:
    b = _bucket(client, "grp")
    try:
        _fill(b, [f"f{i}" for i in range(6)] + ["keep"])
        job = b.objects(obj_names=["f0", "f1"]).delete()
        client.job(job).wait(timeout=30, verbose=False)
        job = b.objects(obj_template="f{2..4}").delete()
        client.job(job).wait(timeout=30, verbose=False)
        assert _names(b) == ["f5", "keep"]
    finally:
        b.delete(missing_ok=True)


def case_object_group_prefetch_of_a_remote_bucket(client: Any) -> None:
    from aistore.sdk import ListObjectFlag

    b = client.bucket(os.environ["V1_REMOTE_BUCKET"], provider="aws")  # holds r0, r1, r2 (put by the test)
    assert sorted(e.name for e in b.list_all_objects()) == ["r0", "r1", "r2"]
    def cached() -> set[str]:
        return {e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries}

    assert not cached() & {"r0", "r2"}  # (r1 may be: the blob download case fetches it)
    job = b.objects(obj_names=["r0", "r2"]).prefetch()
    client.job(job).wait(timeout=60, verbose=False)
    assert cached() >= {"r0", "r2"}
    assert b.object("r2").get_reader().read_all() == b"remote r2"


def case_blob_download_of_a_remote_object(client: Any) -> None:
    from aistore.sdk import ListObjectFlag

    b = client.bucket(os.environ["V1_REMOTE_BUCKET"], provider="aws")
    job = b.object("r1").blob_download(chunk_size=1 << 20, num_workers=2)
    client.job(job).wait(timeout=60, verbose=False)
    assert "r1" in [e.name for e in b.list_objects(flags=[ListObjectFlag.CACHED]).entries]


def case_promote_a_directory(client: Any) -> None:
    root = os.environ["V1_PROMOTE_DIR"]  # holds p/1 and p/sub/2 (written by the test)
    b = _bucket(client, "promote")
    try:
        job = b.object("in/").promote(os.path.join(root, "p"), recursive=True)
        client.job(job).wait(timeout=60, verbose=False)
        assert _names(b) == ["in/1", "in/sub/2"]
        assert b.object("in/sub/2").get_reader().read_all() == b"two"
    finally:
        b.delete(missing_ok=True)


def case_object_group_prefetch_of_ais_bucket_is_refused(client: Any) -> None:
    from aistore.sdk.errors import AISError, InvalidBckProvider

    b = _bucket(client, "pf")
    try:
        _fill(b, ["a"])
        try:
            b.objects(obj_names=["a"]).prefetch()
            raise AssertionError("prefetch of an ais:// bucket succeeded")
        except (AISError, InvalidBckProvider) as e:  # the 1.x SDK refuses it itself before the mesh would (400)
            assert isinstance(e, InvalidBckProvider) or e.status_code == 400, e
    finally:
        b.delete(missing_ok=True)


def case_copy_job_wait(client: Any) -> None:
    src, dst = _bucket(client, "cps"), client.bucket(f"v1-cpd-{os.urandom(3).hex()}")
    try:
        _fill(src, [f"p/{i}" for i in range(4)] + ["q"])
        job_id = src.copy(dst, prefix_filter="p/")
        client.job(job_id).wait(timeout=30, verbose=False)
        assert client.job(job_id).status().end_time > 0
        assert _names(dst) == [f"p/{i}" for i in range(4)]
        assert dst.object("p/2").get_reader().read_all() == b"p/2"
    finally:
        src.delete(missing_ok=True)
        dst.delete(missing_ok=True)


def case_bucket_info_summary_rename(client: Any) -> None:
    b = _bucket(client, "info")
    try:
        _fill(b, ["a", "bb", "ccc"])
        assert b.info()[1]["ObjCount"]["obj_count_present"] == "3"
        assert b.summary()["TotalSize"]["size_all_present_objs"] == "6"
        new = f"v1-ren-{os.urandom(3).hex()}"
        client.job(b.rename(new)).wait(timeout=30, verbose=False)
        b = client.bucket(new)
        assert _names(b) == ["a", "bb", "ccc"]
    finally:
        b.delete(missing_ok=True)


def case_object_copy_custom_append_multipart(client: Any) -> None:
    b = _bucket(client, "objops")
    try:
        src = b.object("src")
        src.get_writer().put_content(b"payload")
        src.copy(b.object("dst"))
        assert b.object("dst").get_reader().read_all() == b"payload"
        src.get_writer().set_custom_props({"k": "v"})
        assert b.object("src").props.custom_metadata == {"k": "v"}
        w = b.object("log").get_writer()
        w.append_content(b"2", handle=w.append_content(b"1,"), flush=True)
        assert b.object("log").get_reader().read_all() == b"1,2"
        mpu = b.object("mpu").multipart_upload().create()
        mpu.add_part(1).put_content(b"part")
        mpu.complete()
        assert b.object("mpu").get_reader().read_all() == b"part"
    finally:
        b.delete(missing_ok=True)


def case_batch_get(client: Any) -> None:
    b = _bucket(client, "batch")
    try:
        _fill(b, ["a", "ccc"])
        assert [(o.obj_name, d) for o, d in client.batch(["a", "ccc"], bucket=b).get()] == [("a", b"a"),
                                                                                            ("ccc", b"ccc")]
        batch = client.batch(bucket=b, streaming_get=False)
        batch.add("a").add("ccc", start=1, length=1)
        assert [d for _, d in batch.get()] == [b"a", b"c"]
    finally:
        b.delete(missing_ok=True)


def case_direct_read_from_the_owner(client: Any) -> None:
    b = _bucket(client, "direct")
    try:
        b.object("o").get_writer().put_content(b"from the owner")
        assert b.object("o").get_reader(direct=True).read_all() == b"from the owner"
    finally:
        b.delete(missing_ok=True)


def case_archive_read_and_list(client: Any) -> None:
    from aistore.sdk import ArchiveConfig, ListObjectFlag

    b = _bucket(client, "arch")
    try:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as t:
            info = tarfile.TarInfo("in/x.txt")
            info.size = 6
            t.addfile(info, io.BytesIO(b"inside"))
        b.object("s.tar").get_writer().put_content(out.getvalue())
        got = b.object("s.tar").get_reader(archive_config=ArchiveConfig(archpath="in/x.txt")).read_all()
        assert got == b"inside"
        assert "s.tar/in/x.txt" in _names(b, flags=[ListObjectFlag.ARCH_DIR])
    finally:
        b.delete(missing_ok=True)


CASES: dict[str, Callable[[Any], None]] = {
    name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_") and callable(fn)
}


def main(url: str) -> int:
    """Run every case against ``url``; one JSON line each: name, ok, and the error when not."""
    import aistore
    from aistore.sdk import Client

    client = Client(url)
    print(json.dumps({"sdk_version": aistore.__version__}), flush=True)
    for name, case in CASES.items():
        try:
            case(client)
            print(json.dumps({"case": name, "ok": True}), flush=True)
        except Exception as e:
            print(json.dumps({"case": name, "ok": False, "error": f"{type(e).__name__}: {e}",
                              "trace": traceback.format_exc()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))


# ---- the pytest side: install 1.x once, run the cases in a subprocess, one test per case ---------

from collections.abc import Iterator  # noqa: E402  (the subprocess above needs nothing but the SDK)

import boto3  # noqa: E402
import pytest  # noqa: E402

from tests.conformance import emulators  # noqa: E402
from tests.integration.conftest import running_mesh  # noqa: E402

pytestmark = pytest.mark.integration


def install_sdk1() -> str:
    """Install the 1.x SDK into .cache/aistore1 unless it is there (idempotent, quiet); return the dir."""
    stamp = os.path.join(SDK1_DIR, ".installed-with-deps-" + SDK1_SPEC.replace("<", "lt").replace(">", "ge")
                         .replace(",", "_").replace("=", ""))
    if os.path.exists(stamp):
        return SDK1_DIR
    # With its dependencies, as a 1.x user has them (1.x pins xxhash 3.5, whose API 4.x changed; ~30 MB,
    # seconds): the target dir comes first on the subprocess's path, so they shadow the venv's.
    # pip's notes about the venv's own packages are noise here and stay in the captured output.
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-input",
           "--upgrade", "--target", SDK1_DIR, SDK1_SPEC]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"installing {SDK1_SPEC} into {SDK1_DIR} failed:\n{done.stdout}\n{done.stderr}")
    with open(stamp, "w"):
        pass
    return SDK1_DIR


@pytest.fixture(scope="module")
def v1_results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Any]]]:
    """A mesh with moto as its aws backend (prefetch needs a remote bucket), and the 1.x cases run against it."""
    target = install_sdk1()
    work = str(tmp_path_factory.mktemp("sdk1"))
    promote_root = os.path.join(work, "promote")
    os.makedirs(os.path.join(promote_root, "p", "sub"))
    for rel, data in (("p/1", b"one"), ("p/sub/2", b"two")):
        with open(os.path.join(promote_root, rel), "wb") as f:
            f.write(data)
    env = {**emulators.aws_env(0), "AISMESH_PROMOTE_ROOTS": promote_root}
    with emulators.moto(work) as m, running_mesh(os.path.join(work, "mesh"), "--backends", "aws",
                                                 env={**env, **emulators.aws_env(m.port)}) as mesh:
        remote = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{m.port}", region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        bucket = f"v1-remote-{os.urandom(3).hex()}"
        remote.create_bucket(Bucket=bucket)
        for i in range(3):
            remote.put_object(Bucket=bucket, Key=f"r{i}", Body=f"remote r{i}".encode())
        yield run_cases(mesh.url, target, {"V1_REMOTE_BUCKET": bucket, "V1_PROMOTE_DIR": promote_root})


def run_cases(url: str, target: str, extra_env: dict[str, str]) -> dict[str, dict[str, Any]]:
    pythonpath = os.pathsep.join([target, *filter(None, [os.environ.get("PYTHONPATH")])])
    env = dict(os.environ, PYTHONPATH=pythonpath, **extra_env)
    done = subprocess.run([sys.executable, os.path.abspath(__file__), url], capture_output=True, text=True,
                          env=env, timeout=400, cwd=target)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines and done.returncode == 0, f"the 1.x runner failed:\n{done.stdout}\n{done.stderr}"
    version = lines[0]["sdk_version"]
    assert version.startswith("1."), f"the subprocess imported aistore {version}, not 1.x"
    return {r["case"]: r for r in lines[1:]}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sdk_v1(v1_results: dict[str, dict[str, Any]], case: str) -> None:
    result = v1_results.get(case)
    assert result is not None, f"case {case} did not run"
    assert result["ok"], result["error"] + "\n" + result["trace"]
