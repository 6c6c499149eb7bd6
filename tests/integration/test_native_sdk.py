"""The unmodified `aistore` SDK end to end: cluster, buckets (info, props, copy, rename), object groups, jobs."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from typing import Any

import lz4.frame
import pytest
import requests
from aistore.sdk import ArchiveConfig, Client, ListObjectFlag
from aistore.sdk.archive_config import ArchiveMode
from aistore.sdk.errors import AISError, ErrBckNotFound

pytestmark = pytest.mark.integration
ACT = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def client(mesh: Any) -> Client:
    return Client(mesh.url)


@pytest.fixture
def bck(client: Client) -> Iterator[Any]:
    b = client.bucket(f"sdk-{os.urandom(3).hex()}")
    b.create()
    yield b
    b.delete(missing_ok=True)


def fill(b: Any, names: list[str]) -> None:
    for n in names:
        b.object(n).get_writer().put_content(n.encode())


def names_of(b: Any, **kw: Any) -> list[str]:
    return [e.name for e in b.list_all_objects(**kw)]


def test_cluster_map_ready_uuid_performance(client: Client) -> None:
    cl = client.cluster()
    smap = cl.get_info()
    assert set(smap.tmap) == {"t1", "t2", "t3"} and "gateway" in smap.pmap
    assert cl.is_ready()
    assert cl.get_uuid() and cl.get_uuid() == cl.get_uuid()
    perf = cl.get_performance()
    assert set(perf) == {"t1", "t2", "t3"}
    t1 = perf["t1"]
    assert t1["status"] == "online" and t1["snode"]["daemon_id"] == "t1"
    assert t1["tcdf"]["mountpaths"] and all(int(m["capacity"]["avail"]) > 0 for m in t1["tcdf"]["mountpaths"].values())


def test_bucket_info_summary_and_props(client: Client, bck: Any) -> None:
    fill(bck, ["a", "bb", "ccc"])
    props_json, summ = bck.info()
    assert json.loads(props_json)["provider"] == "ais"
    assert summ["ObjCount"]["obj_count_present"] == "3"
    assert summ["TotalSize"]["size_all_present_objs"] == "6"
    summary = bck.summary()
    assert summary["ObjCount"]["obj_count_present"] == "3" and summary["ObjSize"]["obj_max_size"] == 3
    headers = bck.head()
    p = json.loads(headers["Ais-Bucket-Props"])
    assert p["lru"]["batch_size"] == 32768 and p["chunks"]["chunk_size"] == "1GiB"
    assert p["ec"]["bundle_multiplier"] == 2 and p["write_policy"]["md"] == "immediate"


def test_set_props_over_http_and_validation(mesh: Any, client: Client, bck: Any) -> None:
    url = f"{mesh.url}/v1/buckets/{bck.name}?provider=ais"
    body = {"action": "set-bprops", "name": "", "value": {"mirror": {"enabled": True, "copies": 3}}}
    r = requests.patch(url, data=json.dumps(body), headers=ACT, timeout=10)
    assert r.status_code == 200, r.text
    head = bck.head()
    assert json.loads(head["Ais-Bucket-Props"])["mirror"] == {"enabled": True, "copies": 3, "burst_buffer": 512}
    assert "mirror.enabled" in head["Ais-Props-Not-Enforced"]
    for value, words in (({"mirror": {"copies": 99}}, "mirror.copies"), ({"lru": {"bogus": 1}}, "lru.bogus"),
                         ({"checksum": {"type": "x"}}, "sha256"), ({"bid": "1"}, "read-only")):
        r = requests.patch(url, data=json.dumps({"action": "set-bprops", "value": value}), headers=ACT, timeout=10)
        assert r.status_code == 400 and words in r.json()["message"], r.text
    r = requests.patch(url, data=json.dumps({"action": "reset-bprops"}), headers=ACT, timeout=10)
    assert r.status_code == 200
    assert json.loads(bck.head()["Ais-Bucket-Props"])["mirror"]["enabled"] is False


def test_props_set_through_one_worker_are_seen_by_every_other_at_once(mesh: Any, bck: Any) -> None:
    """Each request below is a new connection, so the gateway's workers take turns: a HEAD must
    never show the props from before a PATCH that was already answered."""
    url = f"{mesh.url}/v1/buckets/{bck.name}?provider=ais"
    for copies in range(2, 8):
        body = {"action": "set-bprops", "value": {"mirror": {"copies": copies}}}
        assert requests.patch(url, data=json.dumps(body), headers=ACT, timeout=10).status_code == 200
        for _ in range(4):
            shown = json.loads(requests.head(url, timeout=10).headers["Ais-Bucket-Props"])["mirror"]["copies"]
            assert shown == copies


def test_copy_and_rename_are_jobs(client: Client, bck: Any) -> None:
    fill(bck, [f"p/{i}" for i in range(5)] + ["q"])
    dst = client.bucket(f"sdk-copy-{os.urandom(3).hex()}")
    try:
        job_id = bck.copy(dst, prefix_filter="p/")
        assert client.job(job_id).wait(timeout=30, verbose=False).success
        assert names_of(dst) == [f"p/{i}" for i in range(5)]
        assert dst.object("p/3").get_reader().read_all() == b"p/3"
        dry = bck.copy(client.bucket(f"sdk-dry-{os.urandom(3).hex()}"), dry_run=True)
        assert client.job(dry).wait(timeout=30, verbose=False).success
        new_name, old_name = f"sdk-ren-{os.urandom(3).hex()}", bck.name
        ren = bck.rename(new_name)  # the SDK's Bucket takes the new name
        assert client.job(ren).wait(timeout=30, verbose=False).success
        assert len(names_of(client.bucket(new_name))) == 6
        with pytest.raises(ErrBckNotFound):
            client.bucket(old_name).list_objects()
    finally:
        dst.delete(missing_ok=True)


def test_multi_object_delete_and_template(client: Client, bck: Any) -> None:
    fill(bck, [f"f{i}" for i in range(6)] + ["keep"])
    job = bck.objects(obj_names=["f0", "f1", "missing"]).delete()
    assert client.job(job).wait(timeout=30, verbose=False).success
    job = bck.objects(obj_template="f{2..4}").delete()
    assert client.job(job).wait(timeout=30, verbose=False).success
    assert names_of(bck) == ["f5", "keep"]
    status = client.job(job).status()
    assert status.end_time > 0 and not status.err
    dst = client.bucket(f"sdk-grp-{os.urandom(3).hex()}")
    try:
        job = bck.objects(obj_template="f{5..5}").copy(dst, prepend="c-")
        job_id = job[0] if isinstance(job, list) else job
        assert client.job(job_id).wait_for_idle(timeout=30, verbose=False).success
        assert names_of(dst) == ["c-f5"]
    finally:
        dst.delete(missing_ok=True)


def test_jobs_listed_and_running_list_is_a_list(client: Client, bck: Any) -> None:
    fill(bck, ["x"])
    job = bck.objects(obj_names=["x"]).delete()
    client.job(job).wait(timeout=30, verbose=False)
    assert isinstance(client.cluster().list_running_jobs(), list)
    assert job in {s.uuid for s in client.cluster().list_jobs_status()}
    details = client.job(job).get_details()
    snaps = details.list_snapshots()
    assert snaps[0].kind == "delete-listrange" and snaps[0].is_idle


def test_list_flags(client: Client, bck: Any) -> None:
    fill(bck, ["d1/a", "d1/b", "d2/c", "top"])
    assert names_of(bck, flags=[ListObjectFlag.NAME_ONLY]) == ["d1/a", "d1/b", "d2/c", "top"]
    entries = bck.list_objects(flags=[ListObjectFlag.NO_RECURSION]).entries
    is_dir = 1 << 8  # LsoEnt flag IsDir (the SDK's BucketEntry has no accessor for it)
    dirs = [e.name for e in entries if e.flags & is_dir]
    assert dirs == ["d1/", "d2/"] and [e.name for e in entries if not e.flags & is_dir] == ["top"]
    flat = bck.list_objects(flags=[ListObjectFlag.NO_RECURSION, ListObjectFlag.NO_DIRS]).entries
    assert [e.name for e in flat] == ["top"]
    sized = bck.list_objects(flags=[ListObjectFlag.NAME_SIZE]).entries
    assert [e.size for e in sized] == [4, 4, 4, 3]
    cached = bck.list_objects(flags=[ListObjectFlag.CACHED]).entries
    assert all(e.is_cached() for e in cached)
    for refused in (ListObjectFlag.NOT_CACHED, ListObjectFlag.DIFF):
        with pytest.raises(AISError) as ei:
            bck.list_objects(flags=[refused])
        assert ei.value.status_code == 400


def test_object_head_attrs(client: Client, bck: Any) -> None:
    obj = bck.object("dir/o")
    obj.get_writer().put_content(b"hello")
    props = obj.props
    assert props.size == 5 and props.present and props.checksum_type and props.checksum_value
    assert props.obj_version == "1" and props.access_time.isdigit()


def test_job_abort_of_unknown_job_is_404(client: Client) -> None:
    with pytest.raises(AISError) as ei:
        client.job("jnope123").status()
    assert ei.value.status_code == 404


def test_evict_of_ais_bucket_objects_is_refused(mesh: Any, bck: Any) -> None:
    url = f"{mesh.url}/v1/buckets/{bck.name}?provider=ais"
    r = requests.delete(url, data=json.dumps({"action": "evict-listrange", "value": {"objnames": ["a"]}}),
                        headers=ACT, timeout=10)
    assert r.status_code == 400 and "remote buckets only" in r.json()["message"]


def test_object_copy_and_custom_metadata(client: Client, bck: Any) -> None:
    src = bck.object("src")
    src.get_writer().put_content(b"payload")
    src.copy(bck.object("dst/copy"))
    assert bck.object("dst/copy").get_reader().read_all() == b"payload"
    writer = src.get_writer()
    writer.set_custom_props({"k": "v", "team": "a"})
    assert bck.object("src").props.custom_metadata == {"k": "v", "team": "a"}
    writer.set_custom_props({"only": "this"}, replace_existing=True)
    assert bck.object("src").props.custom_metadata == {"only": "this"}
    assert src.get_reader().read_all() == b"payload"


def test_abort_a_running_copy(client: Client, bck: Any) -> None:
    fill(bck, [f"o{i:04d}" for i in range(600)])
    dst = client.bucket(f"sdk-abort-{os.urandom(3).hex()}")
    try:
        job_id = bck.copy(dst)
        assert f"copy-bck[{job_id}]" in client.cluster().list_running_jobs()
        client.job(job_id).abort()
        result = client.job(job_id).wait(timeout=60, verbose=False)
        assert not result.success and "aborted" in result.error
        assert client.job(job_id).status().aborted
    finally:
        dst.delete(missing_ok=True)


def _tar(files: dict[str, bytes], gz: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz" if gz else "w") as t:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return out.getvalue()


def test_archives_read_list_and_write(client: Client, bck: Any) -> None:
    files = {"a/1.jpg": b"one", "a/1.cls": b"c1", "b/2.jpg": b"two"}
    bck.object("s.tar").get_writer().put_content(_tar(files))
    bck.object("s.tgz").get_writer().put_content(_tar(files, gz=True))
    bck.object("s.zip").get_writer().put_content(_zip(files))
    for shard in ("s.tar", "s.tgz", "s.zip"):
        reader = bck.object(shard).get_reader(archive_config=ArchiveConfig(archpath="b/2.jpg"))
        assert reader.read_all() == b"two", shard
    picked = bck.object("s.tar").get_reader(archive_config=ArchiveConfig(regex=".jpg", mode=ArchiveMode.SUFFIX))
    with tarfile.open(fileobj=io.BytesIO(picked.read_all())) as t:
        assert sorted(t.getnames()) == ["a/1.jpg", "b/2.jpg"]
    names = names_of(bck, flags=[ListObjectFlag.ARCH_DIR])
    assert "s.zip/a/1.cls" in names and "s.tgz/b/2.jpg" in names and "s.tar" in names
    with pytest.raises(AISError) as ei:
        bck.object("s.tar").get_reader(archive_config=ArchiveConfig(archpath="nope")).read_all()
    assert ei.value.status_code == 404
    fill(bck, ["x1", "x2"])
    job = bck.objects(obj_names=["x1", "x2"]).archive("out.tar")
    client.job(job[0] if isinstance(job, list) else job).wait(timeout=30, verbose=False)
    with tarfile.open(fileobj=io.BytesIO(bck.object("out.tar").get_reader().read_all())) as t:
        assert sorted(t.getnames()) == ["x1", "x2"]


def test_append_and_file_writer(bck: Any) -> None:
    obj = bck.object("log.txt")
    writer = obj.get_writer()
    handle = writer.append_content(b"one,")
    handle = writer.append_content(b"two,", handle=handle)
    writer.append_content(b"three", handle=handle, flush=True)
    assert obj.get_reader().read_all() == b"one,two,three"
    with writer.as_file(mode="a") as f:
        f.write(b"+more")
    assert obj.get_reader().read_all() == b"one,two,three+more"
    with writer.as_file(mode="w") as f:
        f.write(b"fresh")
    assert obj.get_reader().read_all() == b"fresh"


def test_native_multipart_upload(bck: Any) -> None:
    obj = bck.object("mpt/big")
    mpu = obj.multipart_upload().create()
    parts = [os.urandom(5 << 20), b"tail"]
    for i, data in enumerate(parts, start=1):
        mpu.add_part(i).put_content(data)
    mpu.complete()
    assert obj.get_reader().read_all() == b"".join(parts)
    aborted = bck.object("mpt/aborted").multipart_upload().create()
    aborted.add_part(1).put_content(b"x")
    aborted.abort()
    with pytest.raises(AISError):
        bck.object("mpt/aborted").get_reader().read_all()


def test_direct_read_and_node_logs(client: Client, bck: Any) -> None:
    obj = bck.object("direct")
    obj.get_writer().put_content(b"from the owner")
    assert obj.get_reader(direct=True).read_all() == b"from the owner"
    assert isinstance(client.cluster().get_node_log("t1"), str)  # the node's log file, possibly still empty
    logs = client.cluster().get_cluster_logs()
    assert set(logs) >= {"t1", "t2", "t3"}


@pytest.mark.parametrize(("method", "query", "body", "words"), [
    ("POST", {"bck_to": "ais/@#/bad*name/"}, {"action": "copy-bck", "value": {}}, "bucket name"),
    ("POST", {"bck_to": "nonsense"}, {"action": "move-bck"}, "bck_to"),
    ("POST", {}, {"action": "copy-bck"}, "bck_to"),
    ("DELETE", {}, {"action": "delete-listrange", "value": {"template": "x{9..1}"}}, "template"),
    ("DELETE", {}, {"action": "delete-listrange", "value": {}}, "objnames"),
    ("PUT", {}, {"action": "archive", "value": {"objnames": ["a"], "archname": "x.rar"}}, "archname"),
    ("PATCH", {}, {"action": "set-bprops", "value": {}}, "at least one"),
    ("PATCH", {}, {"action": "set-bprops", "value": {"ec": {"data_slices": 99}}}, "ec.data_slices"),
])
def test_bad_job_requests_are_4xx_naming_the_problem(mesh: Any, bck: Any, method: str, query: dict, body: dict,
                                                     words: str) -> None:
    r = requests.request(method, f"{mesh.url}/v1/buckets/{bck.name}", params={"provider": "ais", **query},
                         data=json.dumps(body), headers=ACT, timeout=10)
    assert r.status_code == 400 and words in r.json()["message"], r.text


@pytest.mark.parametrize(("what", "body"), [("status", {}), ("status", {"ID": "bad id!"}), ("nope", {})])
def test_bad_job_queries_are_4xx(mesh: Any, what: str, body: dict) -> None:
    r = requests.get(f"{mesh.url}/v1/cluster", params={"what": what}, data=json.dumps(body), headers=ACT, timeout=10)
    assert r.status_code == 400, r.text


def test_batch_get(client: Client, bck: Any) -> None:
    fill(bck, ["b1", "b2"])
    bck.object("s.tar").get_writer().put_content(_tar({"in/x.txt": b"inside"}))
    batch = client.batch(bucket=bck, streaming_get=False)
    batch.add("b1").add("b2", start=0, length=1).add("s.tar", archpath="in/x.txt").add("missing")
    got = [(out.obj_name, out.err_msg or "", data) for out, data in batch.get()]
    assert got[:3] == [("b1", "", b"b1"), ("b2", "", b"b"), ("s.tar", "", b"inside")]
    assert got[3][0] == "missing" and "does not exist" in got[3][1] and got[3][2] == b""
    streamed = client.batch(["b1", "b2"], bucket=bck)
    assert [data for _, data in streamed.get()] == [b"b1", b"b2"]
    raw = client.batch(["b1"], bucket=bck).get(raw=True)
    with tarfile.open(fileobj=io.BytesIO(raw.read())) as t:
        assert t.getnames() == [f"{bck.name}/b1"]
    with pytest.raises(AISError):
        list(client.batch(["missing"], bucket=bck, cont_on_err=False).get())


def _tar_lz4(files: dict[str, bytes]) -> bytes:
    return bytes(lz4.frame.compress(_tar(files)))


def test_tar_lz4_shards_list_read_and_write(client: Client, bck: Any) -> None:
    files = {"a/1.jpg": b"one", "b/2.jpg": b"two"}
    bck.object("s.tar.lz4").get_writer().put_content(_tar_lz4(files))
    got = bck.object("s.tar.lz4").get_reader(archive_config=ArchiveConfig(archpath="b/2.jpg")).read_all()
    assert got == b"two"
    names = names_of(bck, flags=[ListObjectFlag.ARCH_DIR])
    assert names == ["s.tar.lz4", "s.tar.lz4/a/1.jpg", "s.tar.lz4/b/2.jpg"]
    fill(bck, ["x1", "x2"])
    job = bck.objects(obj_names=["x1", "x2"]).archive("out.tar.lz4")
    assert client.job(job[0] if isinstance(job, list) else job).wait(timeout=30, verbose=False).success
    raw = lz4.frame.decompress(bck.object("out.tar.lz4").get_reader().read_all())
    with tarfile.open(fileobj=io.BytesIO(raw)) as t:
        assert sorted(t.getnames()) == ["x1", "x2"]
    with pytest.raises(AISError) as ei:
        bck.object("x1.tar.lz4").get_writer().put_content(b"not lz4")
        bck.object("x1.tar.lz4").get_reader(archive_config=ArchiveConfig(archpath="a")).read_all()
    assert ei.value.status_code == 400 and "tar.lz4" in ei.value.message
