"""What an operator sees: aismesh status, Prometheus metrics of every service, JSON logs with a
request id that travels from the gateway into the services it called."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[str, float]:
    """Prometheus text format as {'name{labels}': value} (labels sorted as the client prints them)."""
    out: dict[str, float] = {}
    for line in requests.get(url, timeout=10).text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def services(mesh: Any) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in mesh.status()["services"]}


def test_status_names_health_version_uptime_and_metrics(mesh: Any) -> None:
    svcs = services(mesh)
    assert set(svcs) >= {"etcd", "metadata", "t1", "t2", "t3", "gateway"}
    for name, s in svcs.items():
        assert s["healthy"], name
        assert s["uptime_s"] > 0, name
        assert re.fullmatch(r"\d+\.\d+\.\d+", s["version"]), (name, s["version"])
        assert s["metrics"].startswith("http://") and s["metrics"].endswith("/metrics"), name
        assert requests.get(s["metrics"], timeout=10).status_code == 200, name


def test_gateway_counts_requests_by_operation_and_bytes(mesh: Any, s3: Any, bucket: str) -> None:
    url = services(mesh)["gateway"]["metrics"]
    key = 'aismesh_http_requests_total{api="s3",op="PutObject",status="200"}'
    before = scrape(url)
    body = os.urandom(100_000)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"m{i}", Body=body)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="missing")
    after = scrape(url)
    assert after[key] - before.get(key, 0) == 3
    assert after['aismesh_http_requests_total{api="s3",op="GetObject",status="404"}'] >= 1
    assert after['aismesh_http_body_bytes_total{direction="in"}'] - before.get(
        'aismesh_http_body_bytes_total{direction="in"}', 0) >= 3 * len(body)
    assert any(k.startswith("aismesh_http_request_duration_seconds_bucket") for k in after)


def test_storage_nodes_count_calls_and_report_disk_per_mountpath(mesh: Any, s3: Any, bucket: str) -> None:
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"d{i}", Body=b"x" * 10)
        s3.head_object(Bucket=bucket, Key=f"d{i}")
    heads = 0.0
    for name in ("t1", "t2", "t3"):
        m = scrape(services(mesh)[name]["metrics"])
        heads += m.get('aismesh_rpc_calls_total{code="OK",method="HeadObject",service="storage"}', 0)
        used = [v for k, v in m.items() if k.startswith("aismesh_mountpath_used_bytes")]
        assert len(used) == 2 and all(v > 0 for v in used)
    assert heads >= 6


def test_json_logs_carry_the_request_id_across_services(mesh: Any) -> None:
    name = f"rid-{os.urandom(3).hex()}"
    r = requests.put(f"{mesh.s3}/{name}", timeout=30)
    assert r.status_code == 200
    rid = r.headers["x-amz-request-id"]
    logs = os.path.join(mesh.data, "logs")
    lines = {}
    for service in ("gateway", "metadata"):
        with open(os.path.join(logs, f"{service}.log")) as f:
            docs = [json.loads(line) for line in f if line.strip()]  # every line is JSON
        lines[service] = [d for d in docs if d.get("req_id") == rid]
    assert any(d["msg"] == "request" and d["op"] == "CreateBucket" for d in lines["gateway"])
    assert any(d["msg"] == "bucket created" and d["bucket"] == f"ais://{name}" for d in lines["metadata"])
    requests.delete(f"{mesh.s3}/{name}", timeout=30)
