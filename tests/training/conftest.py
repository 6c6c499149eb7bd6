"""The training-data clients against the real mesh: the integration fixtures, a data set, the examples.

These tests run in .venv-training (``make test-training``), which has torch, the aistore SDK's
pytorch extra, webdataset, s3fs and pyarrow; TensorFlow runs in .venv-tf, named by
``AISMESH_TF_PYTHON``. Under ``make test`` (the main venv) each test module skips itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.conftest import (  # noqa: F401  (fixtures, re-exported for these tests)
    AWS_ENV,
    BIN,
    Mesh,
    drop_bucket,
    free_port,
    mesh,
    s3,
    wait_for,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
SAMPLES = 512
SHARDS = 8


@dataclass(frozen=True)
class Dataset:
    bucket: str
    files: dict[str, bytes]


@pytest.fixture(scope="session")
def dataset(mesh: Mesh, s3: Any) -> Iterator[Dataset]:  # noqa: F811
    """examples/make_dataset.py's data set (512 samples, 8 shards, 8 TFRecord files) in a bucket."""
    sys.path.insert(0, EXAMPLES)
    import make_dataset

    name = f"train-{os.urandom(3).hex()}"
    files = make_dataset.dataset_files(SAMPLES, SHARDS)
    s3.create_bucket(Bucket=name)
    for key, data in files.items():
        s3.put_object(Bucket=name, Key=key, Body=data)
    yield Dataset(bucket=name, files=files)
    drop_bucket(s3, name)


def client_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would have: the venv's tools on PATH, any S3 key."""
    env = dict(os.environ, **AWS_ENV, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    env.update(extra)
    return env


def run_example(script: str, *args: str, python: str = sys.executable, env: dict[str, str] | None = None,
                timeout: float = 420) -> tuple[dict[str, Any], subprocess.CompletedProcess[str]]:
    """Run an example as a user would; its last stdout line is its JSON report."""
    proc = subprocess.run([python, os.path.join(EXAMPLES, script), *args], capture_output=True, text=True,
                          env=env or client_env(), timeout=timeout, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    assert lines, f"{script} printed no report (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(lines[-1]), proc
