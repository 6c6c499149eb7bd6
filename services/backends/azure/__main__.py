"""``python -m services.backends.azure``: the azure (Azure Blob Storage) backend adapter."""

from __future__ import annotations

from services.backends.azure.adapter import AzureBackend
from services.backends.common import serve


def main(argv: list[str] | None = None) -> int:
    return serve("azure", lambda args: AzureBackend(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
