"""``python -m services.backends.gcp``: the gcp (Google Cloud Storage) backend adapter."""

from __future__ import annotations

from services.backends.common import serve
from services.backends.gcp.adapter import GcpBackend


def main(argv: list[str] | None = None) -> int:
    return serve("gcp", lambda args: GcpBackend(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
