"""Job state lives in etcd: a restarted metadata service still knows every job."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from aistore.sdk import Client

pytestmark = pytest.mark.integration


def test_jobs_survive_a_metadata_restart(mesh: Any) -> None:
    client = Client(mesh.url)
    b = client.bucket(f"sdk-restart-{os.urandom(3).hex()}")
    b.create()
    try:
        b.object("x").get_writer().put_content(b"x")
        job = b.objects(obj_names=["x"]).delete()
        assert client.job(job).wait(timeout=30, verbose=False).success
        old = mesh.kill("metadata")
        mesh.wait_healthy("metadata", not_pid=old)
        deadline = time.monotonic() + 30
        while True:  # the gateway reconnects to the new process
            try:
                status = client.job(job).status()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert status.uuid == job and status.end_time > 0 and not status.err
        assert client.job(job).get_details().list_snapshots()[0].kind == "delete-listrange"
    finally:
        b.delete(missing_ok=True)
