"""Concurrent PUTs of one key: the last complete write wins, never a mixture."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("round_", range(3))
def test_same_key_never_mixed(s3: Any, bucket: str, round_: int) -> None:
    bodies = [bytes([i]) * (4 << 20) + os.urandom(16) for i in range(8)]
    barrier = threading.Barrier(len(bodies))
    errors: list[BaseException] = []

    def put(body: bytes) -> None:
        try:
            barrier.wait()
            s3.put_object(Bucket=bucket, Key="contended", Body=body)
        except BaseException as e:  # collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=put, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    final = s3.get_object(Bucket=bucket, Key="contended")["Body"].read()
    assert final in bodies
