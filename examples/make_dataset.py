"""Make the small training data set the examples read, and put it into an aismesh bucket.

Each sample is a 16x16 uint8 "image" whose label (0..9) is a bright row, so a tiny model can
learn it in a few steps, and each sample carries the SHA-256 of its image so a reader can verify
every sample it gets. The samples go out in two shapes:

- WebDataset tar shards ``shards/shard-000000.tar`` ...: per sample ``<key>.npy`` (the array,
  numpy's format), ``<key>.cls`` (the label, ASCII) and ``<key>.sha256`` (hex of the .npy bytes);
- TFRecord files ``tfrecords/train-000000.tfrecord`` ...: tf.train.Example records with the
  features ``image`` (the 256 raw pixel bytes), ``label`` (int64) and ``sha256`` (hex of those
  256 bytes);
- one object a sample ``samples/<key>.sample`` for map-style readers: the hex SHA-256 of the
  .npy bytes, a newline, then the .npy bytes.

Run: python examples/make_dataset.py --endpoint http://127.0.0.1:8080 --bucket train
(``--local DIR`` writes the same files to a directory instead, for a local-disk baseline.)
It needs numpy, boto3 and google-crc32c (all in ``pip install -e '.[training]'``); not TensorFlow.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import struct
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SIDE = 16
CLASSES = 10


@dataclass(frozen=True)
class Sample:
    key: str
    label: int
    npy: bytes  # the image as a .npy file

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.npy).hexdigest()

    @property
    def image(self) -> np.ndarray:
        return np.load(io.BytesIO(self.npy))


def make_samples(count: int, seed: int = 0) -> list[Sample]:
    """``count`` samples, deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        label = i % CLASSES
        img = rng.integers(0, 64, size=(SIDE, SIDE), dtype=np.uint8)
        img[label, :] = 255
        buf = io.BytesIO()
        np.save(buf, img)
        out.append(Sample(key=f"sample-{i:06d}", label=label, npy=buf.getvalue()))
    return out


def verify(npy: bytes, sha256_hex: bytes | str) -> None:
    """Raise if the sample's bytes are not the ones its checksum names (a torn or wrong read)."""
    want = sha256_hex.decode() if isinstance(sha256_hex, bytes) else sha256_hex
    got = hashlib.sha256(npy).hexdigest()
    if got != want.strip():
        raise ValueError(f"sample checksum mismatch: {got} != {want}")


def sample_object(s: Sample) -> bytes:
    """A sample as one self-checking object: hex SHA-256, newline, the .npy bytes."""
    return s.sha256.encode() + b"\n" + s.npy


def open_sample_object(data: bytes) -> np.ndarray:
    """The image of a ``sample_object``, after checking it against its checksum."""
    checksum, _, npy = data.partition(b"\n")
    verify(npy, checksum)
    return np.load(io.BytesIO(npy))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def pack_shard(samples: list[Sample]) -> bytes:
    """One WebDataset tar shard: <key>.npy, <key>.cls, <key>.sha256 per sample, in key order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for s in samples:
            _add(tar, f"{s.key}.npy", s.npy)
            _add(tar, f"{s.key}.cls", str(s.label).encode())
            _add(tar, f"{s.key}.sha256", s.sha256.encode())
    return buf.getvalue()


# --- TFRecord without TensorFlow: the record framing and the tf.train.Example protobuf, by hand.

def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _feature_bytes(value: bytes) -> bytes:
    return _field(1, _field(1, value))  # Feature.bytes_list -> BytesList.value


def _feature_int64(value: int) -> bytes:
    return _field(3, _field(1, _varint(value)))  # Feature.int64_list -> Int64List.value (packed)


def example_bytes(s: Sample) -> bytes:
    """A serialized tf.train.Example with image (raw bytes), label (int64), sha256 (hex bytes)."""
    features = {
        "image": _feature_bytes(s.image.tobytes()),
        "label": _feature_int64(s.label),
        "sha256": _feature_bytes(hashlib.sha256(s.image.tobytes()).hexdigest().encode()),
    }
    entries = b"".join(_field(1, _field(1, k.encode()) + _field(2, v)) for k, v in features.items())
    return _field(1, entries)  # Example.features -> Features.feature (map entries)


def _masked_crc(data: bytes) -> bytes:
    import google_crc32c

    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def tfrecord_file(samples: list[Sample]) -> bytes:
    """The TFRecord framing: length, masked CRC of the length, data, masked CRC of the data."""
    out = io.BytesIO()
    for s in samples:
        rec = example_bytes(s)
        length = struct.pack("<Q", len(rec))
        out.write(length + _masked_crc(length) + rec + _masked_crc(rec))
    return out.getvalue()


def chunks(samples: list[Sample], parts: int) -> Iterator[list[Sample]]:
    per = -(-len(samples) // parts)
    for i in range(0, len(samples), per):
        yield samples[i:i + per]


def dataset_files(count: int, shards: int) -> dict[str, bytes]:
    """Every object of the data set, by name."""
    samples = make_samples(count)
    files = {}
    for s in samples:
        files[f"samples/{s.key}.sample"] = sample_object(s)
    for i, part in enumerate(chunks(samples, shards)):
        files[f"shards/shard-{i:06d}.tar"] = pack_shard(part)
        files[f"tfrecords/train-{i:06d}.tfrecord"] = tfrecord_file(part)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", default=os.environ.get("AIS_ENDPOINT", "http://127.0.0.1:8080"),
                    help="the gateway's URL (its S3 API is at <endpoint>/s3)")
    ap.add_argument("--bucket", default="train")
    ap.add_argument("--samples", type=int, default=512)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--local", metavar="DIR", help="write the files under DIR instead of the bucket")
    args = ap.parse_args()
    files = dataset_files(args.samples, args.shards)
    if args.local:
        for name, data in files.items():
            path = os.path.join(args.local, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        print(f"wrote {len(files)} files ({args.samples} samples) under {args.local}")
        return
    import boto3

    s3 = boto3.client("s3", endpoint_url=args.endpoint.rstrip("/") + "/s3", region_name="us-east-1",
                      aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "any"),
                      aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "any"))
    names = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if args.bucket not in names:
        s3.create_bucket(Bucket=args.bucket)
    for name, data in files.items():
        s3.put_object(Bucket=args.bucket, Key=name, Body=data)
    print(f"put {len(files)} objects ({args.samples} samples) into ais://{args.bucket}")


if __name__ == "__main__":
    main()
