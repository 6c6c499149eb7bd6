"""The seed's TensorFlow demo: train a tiny model on TFRecords read from s3:// paths on aismesh.

    S3_ENDPOINT=127.0.0.1:8080/s3 S3_USE_HTTPS=0 python examples/tensorflow/train_tf.py --bucket train

TensorFlow's ``s3://`` file system comes from tensorflow-io, which never reads ``S3_USE_HTTPS``
and takes an endpoint without a scheme as HTTPS. So this script, before TensorFlow is imported,
turns the seed's pair (a scheme-less ``S3_ENDPOINT`` and ``S3_USE_HTTPS=0``) into
``S3_ENDPOINT=http://...``; any other script works as it is when given that form directly:

    S3_ENDPOINT=http://127.0.0.1:8080/s3 python your_script.py

It prints one JSON line with what it read and learned, then leaves with ``os._exit`` because a
process that used tensorflow-io's S3 file system otherwise dies at exit with "pure virtual method
called" (exit code 134) even when everything worked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys


def endpoint_from_seed_env(env: dict[str, str]) -> None:
    """The seed's S3_ENDPOINT=host:port/s3 + S3_USE_HTTPS=0 as the http:// URL tensorflow-io needs."""
    endpoint = env.get("S3_ENDPOINT", "")
    if endpoint and "://" not in endpoint and env.get("S3_USE_HTTPS", "1").strip().lower() in ("0", "false", "no"):
        env["S3_ENDPOINT"] = "http://" + endpoint


def main() -> int:
    ap = argparse.ArgumentParser(description="train a tiny model on s3://BUCKET/tfrecords/*.tfrecord")
    ap.add_argument("--bucket", default="train")
    ap.add_argument("--prefix", default="tfrecords/")
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()

    endpoint_from_seed_env(os.environ)  # type: ignore[arg-type]
    # tensorflow-io signs requests; the mesh accepts any key unless auth is configured.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "any")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "any")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import tensorflow as tf
    import tensorflow_io  # noqa: F401  (registers the s3:// file system)

    root = f"s3://{args.bucket}/{args.prefix}"
    if not tf.io.gfile.isdir(root.rstrip("/")):
        print(json.dumps({"error": f"{root} not found (S3_ENDPOINT={os.environ.get('S3_ENDPOINT')})"}))
        return 1
    files = sorted(tf.io.gfile.glob(root + "*.tfrecord"))
    listed = sorted(tf.io.gfile.listdir(root))
    first = tf.io.gfile.GFile(files[0], "rb").read(16)

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "sha256": tf.io.FixedLenFeature([], tf.string),
    }

    # Every record is read once and checked against the checksum it carries.
    verified = 0
    for raw in tf.data.TFRecordDataset(files):
        ex = tf.io.parse_single_example(raw, spec)
        if hashlib.sha256(ex["image"].numpy()).hexdigest().encode() != ex["sha256"].numpy():
            print(json.dumps({"error": "checksum mismatch", "verified": verified}))
            return 1
        verified += 1

    def decode(raw: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        ex = tf.io.parse_single_example(raw, spec)
        img = tf.cast(tf.reshape(tf.io.decode_raw(ex["image"], tf.uint8), [16, 16]), tf.float32) / 255.0
        return img, ex["label"]

    ds = (tf.data.TFRecordDataset(files, num_parallel_reads=4).map(decode).shuffle(256).batch(32).repeat())
    model = tf.keras.Sequential([
        tf.keras.Input(shape=(16, 16)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(10),
    ])
    model.compile(optimizer=tf.keras.optimizers.Adam(0.05),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    hist = model.fit(ds, steps_per_epoch=args.steps, epochs=2, verbose=0)
    print(json.dumps({
        "endpoint": os.environ["S3_ENDPOINT"],
        "files": [f.rsplit("/", 1)[-1] for f in files],
        "listed": listed,
        "first_bytes": first.hex(),
        "records_verified": verified,
        "loss": [round(float(x), 4) for x in hist.history["loss"]],
        "accuracy": round(float(hist.history["accuracy"][-1]), 4),
    }), flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # see the docstring: a normal exit after tensorflow-io's S3 use aborts (134)
