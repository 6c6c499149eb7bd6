"""The seed's TensorFlow demo: TensorFlow (tensorflow-io's s3:// file system) reading from aismesh.

TensorFlow runs in its own venv (AISMESH_TF_PYTHON) and in a subprocess: a process that used
tensorflow-io's S3 file system aborts at exit ("pure virtual method called", exit 134) even after
every read succeeded, so these tests judge a run by what it printed, not by its exit code.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("numpy", reason="the training clients: run `make test-training`")  # the data set needs it

from tests.training.conftest import SAMPLES, SHARDS, Dataset, Mesh, client_env, drop_bucket, free_port, run_example

TF_PYTHON = os.environ.get("AISMESH_TF_PYTHON", "")
needs_tf = pytest.mark.skipif(not os.access(TF_PYTHON or "/nonexistent", os.X_OK),
                                reason="TensorFlow's venv (AISMESH_TF_PYTHON): run `make test-training`")


def hostport(m: Mesh) -> str:
    return m.url.split("://", 1)[1]


def gateway_errors_on_reads(m: Mesh, bucket: str) -> list[dict[str, Any]]:
    """GETs of the bucket the gateway answered with an error (it logs every request >= 400)."""
    out = []
    with open(os.path.join(m.data, "logs", "gateway.log"), errors="replace") as f:
        for line in f:
            if f"/s3/{bucket}/" in line and '"GET"' in line:
                rec = json.loads(line)
                if rec.get("status", 0) >= 400:
                    out.append(rec)
    return out


@needs_tf
def test_seed_demo_as_written_trains_from_s3_paths(mesh: Mesh, dataset: Dataset) -> None:
    """S3_ENDPOINT=host:port/s3 S3_USE_HTTPS=0 python examples/tensorflow/train_tf.py: the seed's form."""
    env = client_env(S3_ENDPOINT=hostport(mesh) + "/s3", S3_USE_HTTPS="0")
    report, proc = run_example("tensorflow/train_tf.py", "--bucket", dataset.bucket, "--steps", "20",
                               python=TF_PYTHON, env=env)
    assert "error" not in report, proc.stderr[-3000:]
    assert report["endpoint"] == f"http://{hostport(mesh)}/s3"
    names = [f"train-{i:06d}.tfrecord" for i in range(SHARDS)]
    assert report["files"] == names and report["listed"] == names
    assert bytes.fromhex(report["first_bytes"]) == dataset.files["tfrecords/train-000000.tfrecord"][:16]
    assert report["records_verified"] == SAMPLES
    assert report["loss"][-1] < report["loss"][0]
    assert report["accuracy"] >= 0.9
    # tensorflow-io reads every object as GET ...?versionId=1: none of them may fail.
    assert gateway_errors_on_reads(mesh, dataset.bucket) == []


@needs_tf
def test_any_script_works_with_an_http_endpoint(mesh: Mesh, dataset: Dataset, tmp_path: Any) -> None:
    """An unmodified TF script (no endpoint mapping, no os._exit) with S3_ENDPOINT=http://host:port/s3."""
    script = tmp_path / "plain_tf.py"
    script.write_text(textwrap.dedent(f"""
        import tensorflow as tf, tensorflow_io
        root = "s3://{dataset.bucket}/tfrecords"
        names = sorted(tf.io.gfile.listdir(root))
        head = tf.io.gfile.GFile(root + "/" + names[0], "rb").read()
        n = sum(1 for _ in tf.data.TFRecordDataset([root + "/" + x for x in names]))
        print("RESULT", tf.io.gfile.exists(root + "/" + names[0]), len(names), len(head), n, flush=True)
    """))
    env = client_env(S3_ENDPOINT=mesh.url + "/s3", TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run([TF_PYTHON, str(script)], capture_output=True, text=True, env=env, timeout=300)
    size = len(dataset.files["tfrecords/train-000000.tfrecord"])
    assert f"RESULT True {SHARDS} {size} {SAMPLES}" in proc.stdout, proc.stderr[-3000:]
    assert proc.returncode in (0, -6, 134), proc.stderr[-3000:]  # 134/SIGABRT at exit: tensorflow-io's, see above


def test_version_id_1_reads_the_current_object(s3: Any, dataset: Dataset) -> None:
    """What tensorflow-io sends on every read (versionId=1) answers with the object, also after an overwrite."""
    key = "probes/version-1"
    s3.put_object(Bucket=dataset.bucket, Key=key, Body=b"first")
    assert s3.get_object(Bucket=dataset.bucket, Key=key, VersionId="1")["Body"].read() == b"first"
    s3.put_object(Bucket=dataset.bucket, Key=key, Body=b"second")
    assert s3.get_object(Bucket=dataset.bucket, Key=key, VersionId="1")["Body"].read() == b"second"
    s3.delete_object(Bucket=dataset.bucket, Key=key)


class RecordingProxy(http.server.ThreadingHTTPServer):
    """A pass-through HTTP proxy in front of the gateway that records each request line and status,
    to see what tensorflow-io sends (the gateway does not log successful GETs)."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.seen = upstream, []  # type: ignore[var-annotated]
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def relay(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                req = urllib.request.Request(proxy.upstream + self.path, data=self.rfile.read(n) if n else None,
                                             method=self.command, headers=dict(self.headers.items()))
                try:
                    with urllib.request.urlopen(req, timeout=60) as r:
                        code, body, headers = r.status, r.read(), r.headers
                except urllib.error.HTTPError as e:
                    code, body, headers = e.code, e.read(), e.headers
                proxy.seen.append((self.command, self.path, code))
                self.send_response(code)
                for k, v in headers.items():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", headers.get("Content-Length") or str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = relay

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", free_port()), Handler)


@pytest.fixture
def proxy(mesh: Mesh) -> Iterator[RecordingProxy]:
    p = RecordingProxy(mesh.url)
    threading.Thread(target=p.serve_forever, daemon=True).start()
    yield p
    p.shutdown()
    p.server_close()


@needs_tf
def test_seed_demo_reads_a_versioned_bucket_by_version_id(mesh: Mesh, s3: Any, dataset: Dataset,
                                                          proxy: RecordingProxy) -> None:
    """tensorflow-io reads each object with ?versionId=<the id its HEAD returned>: on a bucket with
    versioning enabled every such read must answer with that version (and on an unversioned
    bucket HEAD returns none, so TF sends none)."""
    name = f"train-versioned-{os.urandom(3).hex()}"
    s3.create_bucket(Bucket=name)
    try:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        tfrecords = {k: v for k, v in dataset.files.items() if k.startswith("tfrecords/")}
        for key, data in tfrecords.items():
            s3.put_object(Bucket=name, Key=key, Body=b"an older version")
            s3.put_object(Bucket=name, Key=key, Body=data)
        env = client_env(S3_ENDPOINT=f"127.0.0.1:{proxy.server_address[1]}/s3", S3_USE_HTTPS="0")
        report, proc = run_example("tensorflow/train_tf.py", "--bucket", name, "--steps", "10",
                                   python=TF_PYTHON, env=env)
        assert "error" not in report, proc.stderr[-3000:]
        assert report["records_verified"] == SAMPLES
        reads = [(path, code) for method, path, code in proxy.seen
                 if method == "GET" and path.startswith(f"/s3/{name}/tfrecords/")]
        assert reads and all(code in (200, 206) and "?versionId=" in path for path, code in reads), reads
        current = {s3.head_object(Bucket=name, Key=k)["VersionId"] for k in tfrecords}
        assert {path.split("versionId=", 1)[1] for path, _ in reads} <= current
    finally:
        for v in s3.list_object_versions(Bucket=name).get("Versions", []):
            s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
        drop_bucket(s3, name)
