"""Vector files: numpy.save-written .npy files and .fvecs/.ivecs/.bvecs round trips."""

import os
import pathlib

import numpy as np
import pytest

import knnx

NPY_DTYPES = [np.float32, np.uint8, np.int32, np.int64]


def sample(rng, dtype, shape):
    if np.issubdtype(dtype, np.floating):
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", NPY_DTYPES)
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("shape", [(37, 5), (1, 1), (200,), (3, 1000)])
def test_read_npy_written_by_numpy(tmp_path, rng, dtype, order, shape):
    a = np.asarray(sample(rng, dtype, shape), order=order)
    path = tmp_path / "a.npy"
    np.save(path, a)
    b = knnx.read_npy(path)
    assert b.dtype == a.dtype and b.shape == a.shape and b.flags.c_contiguous
    np.testing.assert_array_equal(b, a)
    as_2d = a.reshape(len(a), -1)
    vectors = knnx.read_vectors(str(path))
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, as_2d.astype(np.float32))
    if np.issubdtype(dtype, np.integer):
        labels = knnx.read_labels(path)
        assert labels.dtype == np.int64
        np.testing.assert_array_equal(labels, as_2d.astype(np.int64))


def test_read_vectors_max_rows(tmp_path, rng):
    a = sample(rng, np.float32, (50, 8))
    np.save(tmp_path / "a.npy", a)
    knnx.write_fvecs(tmp_path / "a.fvecs", a)
    for name in ("a.npy", "a.fvecs"):
        np.testing.assert_array_equal(knnx.read_vectors(tmp_path / name, max_rows=7), a[:7])
        np.testing.assert_array_equal(knnx.read_vectors(tmp_path / name, max_rows=500), a)


@pytest.mark.parametrize("order", ["C", "F"])
def test_float64_npy_is_read_as_float32(tmp_path, rng, order):
    a = np.asarray(rng.standard_normal((23, 7)) * 1e3, order=order)  # float64, numpy's default
    path = tmp_path / "f64.npy"
    np.save(path, a)
    raw = knnx.read_npy(path)
    assert raw.dtype == np.float64 and raw.flags.c_contiguous
    np.testing.assert_array_equal(raw, a)
    vectors = knnx.read_vectors(path)
    assert vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, a.astype(np.float32))  # rounded to nearest
    np.testing.assert_array_equal(knnx.read_vectors(path, max_rows=5), a[:5].astype(np.float32))
    np.save(path, np.array([[3.0, -1.0], [7.0, 2.0**40]]))
    np.testing.assert_array_equal(knnx.read_labels(path), [[3, -1], [7, 2**40]])


@pytest.mark.parametrize("bad", [1e39, -np.inf, np.nan])
def test_float64_npy_beyond_float32_is_a_format_error(tmp_path, bad):
    path = tmp_path / "f64.npy"
    a = np.zeros((3, 4))
    a[2, 1] = bad
    np.save(path, a)
    with pytest.raises(knnx.FormatError, match=r"element \[2, 1\] = .* \(float64\) is not a "
                       r"finite float32 value") as info:
        knnx.read_vectors(path)
    assert isinstance(info.value, OSError)
    assert knnx.read_vectors(path, max_rows=2).shape == (2, 4)  # the bad row is not read


def test_unsupported_npy_dtype_is_a_format_error(tmp_path):
    path = tmp_path / "f16.npy"
    np.save(path, np.zeros((3, 4), np.float16))
    with pytest.raises(knnx.FormatError, match="unsupported dtype '<f2'") as info:
        knnx.read_npy(path)
    assert isinstance(info.value, OSError)


@pytest.mark.parametrize("order", ["C", "F"])
def test_fvecs_round_trip(tmp_path, rng, order):
    a = np.asarray(sample(rng, np.float32, (123, 17)), order=order)
    path = tmp_path / "x.fvecs"
    knnx.write_fvecs(path, a)
    assert os.path.getsize(path) == 123 * (4 + 17 * 4)
    b = knnx.read_fvecs(path)
    np.testing.assert_array_equal(b, a)
    np.testing.assert_array_equal(knnx.read_vectors(str(path)), a)
    # float64 input is converted to float32 on the way out.
    knnx.write_fvecs(path, a.astype(np.float64))
    np.testing.assert_array_equal(knnx.read_fvecs(path), a)


def test_ivecs_and_bvecs_round_trip(tmp_path, rng):
    gt = sample(rng, np.int64, (40, 100))
    knnx.write_ivecs(tmp_path / "gt.ivecs", gt)
    np.testing.assert_array_equal(knnx.read_ivecs(tmp_path / "gt.ivecs"), gt)
    labels = knnx.read_labels(tmp_path / "gt.ivecs")
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, gt)

    b = rng.integers(0, 256, size=(25, 128)).astype(np.uint8)
    knnx.write_bvecs(tmp_path / "b.bvecs", b)
    np.testing.assert_array_equal(knnx.read_bvecs(tmp_path / "b.bvecs"), b)
    np.testing.assert_array_equal(knnx.read_vectors(tmp_path / "b.bvecs"), b.astype(np.float32))


@pytest.mark.parametrize("dtype", NPY_DTYPES)
def test_write_npy_is_readable_by_numpy(tmp_path, rng, dtype):
    for shape in [(9, 3), (11,)]:
        a = sample(rng, dtype, shape)
        knnx.write_npy(tmp_path / "w.npy", np.asfortranarray(a))
        b = np.load(tmp_path / "w.npy")
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)


def test_writers_reject_values_the_format_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match=r"x\[0, 1\] = 256 does not fit in uint8"):
        knnx.write_bvecs(tmp_path / "b.bvecs", np.array([[1, 256]]))
    with pytest.raises(ValueError, match=r"x\[1, 0\] = -1 does not fit in uint8"):
        knnx.write_bvecs(tmp_path / "b.bvecs", np.array([[1, 2], [-1, 0]]))
    with pytest.raises(ValueError, match=r"does not fit in int32"):
        knnx.write_ivecs(tmp_path / "i.ivecs", np.array([[2**31]]))
    with pytest.raises(ValueError, match="x must hold integers, got dtype float32"):
        knnx.write_ivecs(tmp_path / "i.ivecs", np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="write_npy writes float32, int32, int64 or uint8"):
        knnx.write_npy(tmp_path / "w.npy", np.ones((2, 2)))
    with pytest.raises(ValueError, match="x is empty"):
        knnx.write_fvecs(tmp_path / "e.fvecs", np.zeros((0, 3), np.float32))
    assert not any(tmp_path.iterdir())  # nothing was written


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(knnx.IoError) as info:
        knnx.read_fvecs(tmp_path / "absent.fvecs")
    assert isinstance(info.value, OSError)
    truncated = tmp_path / "t.fvecs"
    knnx.write_fvecs(truncated, np.ones((4, 8), np.float32))
    truncated.write_bytes(truncated.read_bytes()[:-5])
    with pytest.raises(knnx.FormatError, match="t.fvecs"):
        knnx.read_fvecs(truncated)
    with pytest.raises(ValueError, match="extension"):
        knnx.read_vectors(tmp_path / "x.txt")


def test_loaded_vectors_search_like_the_originals(tmp_path, rng):
    xb = sample(rng, np.float32, (300, 12))
    knnx.write_fvecs(tmp_path / "base.fvecs", xb)
    index = knnx.IndexFlat(12)
    index.add(knnx.read_vectors(pathlib.Path(tmp_path / "base.fvecs")))
    np.testing.assert_array_equal(index.vectors(), xb)
