"""Generates the gRPC modules at build time (never committed).

The contracts live in the top-level ``protos/`` folder; protoc sees them under the virtual
path ``aismesh/protos/`` (``-Iaismesh/protos=protos``), so the generated modules land in the
``aismesh.protos`` package and import each other as ``aismesh.protos.<name>_pb2``.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def generate_protos() -> None:
    from grpc_tools import protoc

    root = Path(__file__).parent
    protos = sorted(str(p) for p in (root / "protos").glob("*.proto"))
    args = ["protoc", f"-Iaismesh/protos={root / 'protos'}", f"--python_out={root}", f"--pyi_out={root}",
            f"--grpc_python_out={root}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


class BuildPy(build_py):
    def run(self) -> None:
        generate_protos()
        super().run()


setup(cmdclass={"build_py": BuildPy})
