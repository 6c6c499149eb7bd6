"""Missing or wrong credentials: a clear UNAUTHENTICATED naming the provider, never a hang."""

from __future__ import annotations

import os

import grpc
import pytest

from aismesh.cmn import errors
from aismesh.protos import backend_pb2, backend_pb2_grpc, types_pb2
from tests.conformance import emulators


def head(addr: str, rb: backend_pb2.RemoteBucket) -> errors.AisError:
    with grpc.insecure_channel(addr) as ch, pytest.raises(grpc.RpcError) as ei:
        backend_pb2_grpc.BackendStub(ch).HeadBucket(backend_pb2.BackendBucketRequest(bucket=rb), timeout=20)
    return errors.from_rpc_error(ei.value)


def test_azure_without_credentials(tmp_path: os.PathLike[str]) -> None:
    env = {"AZURE_STORAGE_CONNECTION_STRING": "", "AZURE_STORAGE_ACCOUNT": "", "AZURE_STORAGE_KEY": ""}
    with emulators.adapter("azure", str(tmp_path), env) as a:
        e = head(a.addr, backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="azure", name="b")))
    assert isinstance(e, errors.Unauthenticated), e
    assert "azure" in e.message and "AZURE_STORAGE_CONNECTION_STRING" in e.message


def test_azure_with_a_wrong_key(tmp_path: os.PathLike[str]) -> None:
    work = str(tmp_path)
    with emulators.azurite(work) as az:
        conn = emulators.azure_conn(az.port).replace(emulators.AZURITE_KEY, "d3Jvbmc=" * 11)
        with emulators.adapter("azure", work, {"AZURE_STORAGE_CONNECTION_STRING": conn}) as a:
            e = head(a.addr, backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="azure", name="keyed")))
    assert isinstance(e, (errors.Unauthenticated, errors.AccessDenied)), e
    assert "azure" in e.message and "keyed" in e.message


def test_gcp_with_an_unreadable_credentials_file(tmp_path: os.PathLike[str]) -> None:
    work = str(tmp_path)
    with emulators.fake_gcs(work) as f, emulators.adapter("gcp", work, emulators.gcp_env(f.port)) as a:
        rb = backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="gcp", name="b"),
                                      extra={"gcp.application_creds": os.path.join(work, "missing.json")})
        e = head(a.addr, rb)
    assert isinstance(e, errors.Unauthenticated), e
    assert "gcp" in e.message


def test_gcp_without_credentials(tmp_path: os.PathLike[str]) -> None:
    env = {"STORAGE_EMULATOR_HOST": "", "GOOGLE_APPLICATION_CREDENTIALS": os.path.join(str(tmp_path), "none.json"),
           "GCE_METADATA_HOST": "127.0.0.1:1", "GCE_METADATA_IP": "127.0.0.1:1", "NO_GCE_CHECK": "True"}
    with emulators.adapter("gcp", str(tmp_path), env) as a:
        e = head(a.addr, backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="gcp", name="b")))
    assert isinstance(e, errors.Unauthenticated), e
    assert "gcp" in e.message


def test_oci_without_credentials(tmp_path: os.PathLike[str]) -> None:
    pytest.importorskip("oci", reason="the oci SDK is optional")
    env = {"OCI_TENANCY_OCID": "", "OCI_USER_OCID": "", "OCI_CONFIG_FILE": os.path.join(str(tmp_path), "none"),
           "OCI_OBJECT_STORAGE_ENDPOINT": "http://127.0.0.1:1"}
    with emulators.adapter("oci", str(tmp_path), env) as a:
        e = head(a.addr, backend_pb2.RemoteBucket(bck=types_pb2.Bck(provider="oci", name="b")))
    assert isinstance(e, errors.Unauthenticated), e
    assert "oci" in e.message
