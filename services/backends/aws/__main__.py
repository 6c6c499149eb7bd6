"""``python -m services.backends.aws``: the aws (S3 and S3-compatible) backend adapter."""

from __future__ import annotations

from services.backends.aws.adapter import AwsBackend
from services.backends.common import serve


def main(argv: list[str] | None = None) -> int:
    return serve("aws", lambda args: AwsBackend(), argv)


if __name__ == "__main__":
    raise SystemExit(main())
