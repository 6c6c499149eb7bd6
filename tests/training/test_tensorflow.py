"""The seed's TensorFlow demo: TensorFlow (tensorflow-io's s3:// file system) reading from aismesh.

TensorFlow runs in its own venv (AISMESH_TF_PYTHON) and in a subprocess: a process that used
tensorflow-io's S3 file system aborts at exit ("pure virtual method called", exit 134) even after
every read succeeded, so these tests judge a run by what it printed, not by its exit code.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from typing import Any

import pytest

pytest.importorskip("numpy", reason="the training clients: run `make test-training`")  # the data set needs it

from tests.training.conftest import SAMPLES, SHARDS, Dataset, Mesh, client_env, run_example

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
