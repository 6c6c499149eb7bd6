"""The launcher's command line and the service specs it builds."""

import argparse

import pytest

from aismesh.launcher import services
from aismesh.launcher.cli import build_parser, port_number
from aismesh.launcher.state import State, assign_ports


@pytest.mark.parametrize("text", ["0", "65536", "99999", "-1", "abc", ""])
def test_bad_ports_are_one_line_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="port number"):
        port_number(text)


def test_up_parses_the_documented_options() -> None:
    args = build_parser().parse_args(["up", "--local-socket", "off", "--metadata-replicas", "2", "--port", "9090"])
    assert (args.local_socket, args.metadata_replicas, args.port) == ("off", 2, 9090)


def test_specs_give_every_service_a_metrics_port_and_replicas_their_own_names() -> None:
    st = State(data="/d", targets=2, metadata=2)
    st.ports = assign_ports(services.port_names(2, 2), {}, "127.0.0.1", {st.port}, is_free=lambda h, p: True)
    specs = {s.name: s for s in services.build_specs(st, 1, "off")}
    assert set(specs) == {"etcd", "metadata", "metadata2", "t1", "t2", "gateway"}
    assert specs["etcd"].metrics.endswith("/metrics")
    for name in ("metadata", "metadata2", "t1", "t2", "gateway"):
        argv = specs[name].argv
        assert argv[argv.index("--metrics-listen") + 1] + "/metrics" == specs[name].metrics
    both = f"127.0.0.1:{st.ports['metadata']},127.0.0.1:{st.ports['metadata2']}"
    assert specs["t1"].argv[specs["t1"].argv.index("--metadata") + 1] == both
    assert "--local-socket" in specs["t1"].argv


def test_backends_start_before_the_nodes_and_are_announced_to_them() -> None:
    from aismesh.launcher.cli import _providers

    assert _providers("s3, ht,aws") == ["aws", "ht"]
    assert _providers("gs,az,gcp,oc") == ["gcp", "azure", "oci"]
    assert _providers("ais") == ["ais"]  # the adapter for remote AIS clusters
    st = State(data="/d", targets=1, backends=["aws", "ht"])
    st.ports = assign_ports(services.port_names(1, 1, st.backends), {}, "127.0.0.1", {st.port},
                            is_free=lambda h, p: True)
    specs = services.build_specs(st, 1)
    names = [s.name for s in specs]
    assert names.index("backend-aws") < names.index("t1") and names.index("backend-ht") < names.index("t1")
    aws = next(s for s in specs if s.name == "backend-aws")
    assert aws.argv[2] == "services.backends.aws" and aws.kind == "backend"
    assert services.backends_env(st) == (f"aws=127.0.0.1:{st.ports['backend-aws']},"
                                         f"ht=127.0.0.1:{st.ports['backend-ht']}")
