"""Generates the gRPC modules from aismesh/protos/*.proto at build time (never committed)."""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


def generate_protos() -> None:
    from grpc_tools import protoc

    root = Path(__file__).parent
    protos = sorted(str(p.relative_to(root)) for p in (root / "aismesh" / "protos").glob("*.proto"))
    args = ["protoc", f"-I{root}", f"--python_out={root}", f"--pyi_out={root}",
            f"--grpc_python_out={root}", *protos]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")


class BuildPy(build_py):
    def run(self) -> None:
        generate_protos()
        super().run()


setup(cmdclass={"build_py": BuildPy})
