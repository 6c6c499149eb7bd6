"""``python -m services.backends.oci``: the oci (Oracle Cloud Infrastructure Object Storage) backend adapter."""

from __future__ import annotations

from services.backends.common import serve
from services.backends.oci.adapter import OciBackend


def main(argv: list[str] | None = None) -> int:
    return serve("oci", lambda args: OciBackend(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
