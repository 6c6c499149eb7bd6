"""Remote AIS clusters: attach, show and detach through the native API and the `ais` CLI, with
two meshes on loopback. Their buckets (ais://@alias/b): test_remote_ais.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from tests.integration.conftest import Mesh, free_port, running_mesh

pytestmark = pytest.mark.integration
AIS = os.path.join(os.path.dirname(sys.executable), "ais")


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with running_mesh(str(tmp_path_factory.mktemp("remote-b")), "--targets", "2") as m:
        yield m


def ais(mesh: Mesh, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([AIS, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, AIS_ENDPOINT=mesh.url))


def test_attach_show_and_detach_with_the_cli(mesh: Mesh, other: Mesh) -> None:
    done = ais(mesh, "cluster", "remote-attach", f"remb={other.url}")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"Remote cluster (remb={other.url}) successfully attached\n"
    uuid = requests.get(f"{other.url}/v1/daemon", params={"what": "smap"}, timeout=10).json()["uuid"]
    dead = f"http://127.0.0.1:{free_port()}"
    assert ais(mesh, "cluster", "remote-attach", f"gone={dead}").returncode == 0  # need not be online
    shown = ais(mesh, "show", "remote-cluster")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["UUID", "URL", "Alias", "Primary", "Smap", "Targets", "Online"]
    never = next(line.split() for line in lines if "gone" in line)
    assert never == ["<gone>", f"<{dead.removeprefix('http://')}>", "n/a", "n/a", "n/a", "n/a", "no"]
    row = next(line.split() for line in lines if "remb" in line)
    assert row[0] == uuid and row[2] == "remb" and row[5] == "2" and row[6] == "yes"
    assert ais(mesh, "cluster", "remote-detach", "gone").returncode == 0
    assert ais(mesh, "cluster", "remote-detach", "remb").returncode == 0
    left = ais(mesh, "show", "remote-cluster")
    assert "remb" not in left.stdout and "gone" not in left.stdout
    missing = ais(mesh, "cluster", "remote-detach", "remb")
    assert missing.returncode != 0 and "not found" in missing.stderr


def test_native_api_list_keeps_what_an_offline_remote_last_said(mesh: Mesh,
                                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_mesh(str(tmp_path_factory.mktemp("remote-c")), "--targets", "1") as third:
        r = requests.put(f"{mesh.url}/v1/cluster/attach", params={"what": "remote"}, timeout=30,
                         headers={"Ais-Remote-Ais-Alias": "remc", "Ais-Remote-Ais-Url": third.url})
        assert r.status_code == 200, r.text
        online = requests.get(f"{mesh.url}/v1/cluster", params={"what": "remote"}, timeout=30).json()
    entry = next(e for e in online["a"] if e["alias"] == "remc")
    assert entry["online"] and len(entry["smap"]["tmap"]) == 1
    offline = requests.get(f"{mesh.url}/v1/cluster", params={"what": "remote"}, timeout=30).json()
    later = next(e for e in offline["a"] if e["alias"] == "remc")
    assert not later["online"]
    assert later["uuid"] == entry["uuid"] and later["smap"]["tmap"] == entry["smap"]["tmap"]
    assert requests.put(f"{mesh.url}/v1/cluster/detach", params={"what": "remote"}, timeout=30,
                        headers={"Ais-Remote-Ais-Alias": "remc"}).status_code == 200


def test_attachments_survive_a_metadata_restart(mesh: Mesh, other: Mesh) -> None:
    assert ais(mesh, "cluster", "remote-attach", f"keep={other.url}").returncode == 0
    old = mesh.kill("metadata")
    mesh.wait_healthy("metadata", not_pid=old)
    mesh.wait_healthy()
    doc = requests.get(f"{mesh.url}/v1/cluster", params={"what": "remote"}, timeout=30).json()
    assert "keep" in [e["alias"] for e in doc["a"]]
    assert ais(mesh, "cluster", "remote-detach", "keep").returncode == 0


def test_attach_refuses_what_is_not_a_cluster(mesh: Mesh) -> None:
    # An HTTP server that is not an AIS cluster: the gateway's own S3 API.
    r = requests.put(f"{mesh.url}/v1/cluster/attach", params={"what": "remote"}, timeout=30,
                     headers={"Ais-Remote-Ais-Alias": "notais", "Ais-Remote-Ais-Url": f"{mesh.url}/s3"})
    assert r.status_code == 400
    assert "not" in r.json()["message"] and "notais" in r.json()["message"]
    bad = requests.put(f"{mesh.url}/v1/cluster/attach", params={"what": "bucket"}, timeout=30,
                       headers={"Ais-Remote-Ais-Alias": "x1", "Ais-Remote-Ais-Url": "http://127.0.0.1:1"})
    assert bad.status_code == 400
    self_attach = requests.put(f"{mesh.url}/v1/cluster/attach", params={"what": "remote"}, timeout=30,
                               headers={"Ais-Remote-Ais-Alias": "me", "Ais-Remote-Ais-Url": mesh.url})
    assert self_attach.status_code == 400 and "this cluster itself" in self_attach.json()["message"]
