"""pyarrow's S3FileSystem(endpoint_override=..., scheme="http"): a partitioned Parquet data set."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("pyarrow", reason="the training clients: run `make test-training`")

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from tests.training.conftest import AWS_ENV, Dataset, Mesh


def test_partitioned_parquet_write_and_read(mesh: Mesh, s3: Any, dataset: Dataset) -> None:
    fs = pafs.S3FileSystem(endpoint_override=mesh.s3.split("://", 1)[1], scheme="http",
                           access_key=AWS_ENV["AWS_ACCESS_KEY_ID"], secret_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
                           region="us-east-1")
    n = 3000
    table = pa.table({"split": [("train", "val", "test")[i % 3] for i in range(n)], "day": [i % 4 for i in range(n)],
                      "x": list(range(n)), "label": [i % 10 for i in range(n)]})
    root = f"{dataset.bucket}/parquet"
    pads.write_dataset(table, root, filesystem=fs, format="parquet", partitioning=["split", "day"],
                       partitioning_flavor="hive", max_rows_per_file=300, max_rows_per_group=100)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=dataset.bucket, Prefix="parquet/")["Contents"]]
    keys = [k for k in listed if not k.endswith("/")]  # pyarrow also writes empty "dir/" marker objects
    assert {k.split("/")[1] for k in keys} == {"split=train", "split=val", "split=test"}
    assert all(k.endswith(".parquet") for k in keys) and len(keys) >= 12

    ds = pads.dataset(root, filesystem=fs, format="parquet", partitioning="hive")
    back = ds.to_table().sort_by("x")
    assert back.num_rows == n
    assert back.column("x").to_pylist() == list(range(n))
    assert back.column("split").to_pylist() == table.column("split").to_pylist()
    # Partition pruning: only the matching files are read.
    val = ds.to_table(filter=(pads.field("split") == "val") & (pads.field("day") == 1))
    assert sorted(val.column("x").to_pylist()) == [i for i in range(n) if i % 3 == 1 and i % 4 == 1]
    # A ranged read of one file's footer, as Parquet readers do.
    info = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    one = next(f for f in info if f.type == pafs.FileType.File)
    with fs.open_input_file(one.path) as f:
        f.seek(one.size - 4)
        assert f.read(4) == b"PAR1"
    fs.delete_dir(root)
    assert s3.list_objects_v2(Bucket=dataset.bucket, Prefix="parquet/").get("KeyCount", 0) == 0
