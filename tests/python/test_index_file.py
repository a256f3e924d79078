"""write_index / read_index round trips and errors, and index_factory specs saved and loaded."""

import os

import numpy as np
import pytest

import knnx


def data(n, d, seed):
    return knnx.make_mixture_base(n, d, n_clusters=16, seed=seed)


def assert_same_search(a, b, q, k):
    Da, Ia = a.search(q, k)
    Db, Ib = b.search(q, k)
    np.testing.assert_array_equal(Ia, Ib)
    np.testing.assert_array_equal(Da, Db)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_flat_round_trip(tmp_path, metric):
    x, q = data(2000, 24, 1), data(40, 24, 2)
    index = knnx.IndexFlat(24, metric)
    index.add_with_ids(x, np.arange(2000) * 3)
    index.remove_ids([0, 3])
    path = tmp_path / "flat.knnx"
    knnx.write_index(index, path)
    loaded = knnx.read_index(str(path))
    assert type(loaded) is knnx.IndexFlat
    assert (loaded.d, loaded.metric, loaded.ntotal) == (24, index.metric, 1998)
    assert_same_search(index, loaded, q, 10)
    np.testing.assert_array_equal(loaded.ids(), index.ids())
    loaded.add(x[:1])  # numbering goes on from the saved index
    assert loaded.ids()[-1] == 3 * 1999 + 1


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_ivf_round_trip(tmp_path, metric):
    x, q = data(5000, 32, 3), data(50, 32, 4)
    index = knnx.IndexIVFFlat(32, 20, metric)
    index.train(x)
    index.add(x)
    index.n_probe = 5
    path = os.fspath(tmp_path / "ivf.knnx")
    knnx.write_index(index, path)
    loaded = knnx.read_index(path)
    assert type(loaded) is knnx.IndexIVFFlat
    assert (loaded.n_lists, loaded.n_probe, loaded.ntotal) == (20, 5, 5000)
    np.testing.assert_array_equal(loaded.centroids(), index.centroids())
    np.testing.assert_array_equal(loaded.list_sizes(), index.list_sizes())
    assert_same_search(index, loaded, q, 10)
    loaded.n_probe = index.n_probe = 20
    assert_same_search(index, loaded, q, 10)


def test_untrained_ivf_round_trip(tmp_path):
    path = tmp_path / "empty.knnx"
    knnx.write_index(knnx.IndexIVFFlat(8, 4), path)
    loaded = knnx.read_index(path)
    assert not loaded.is_trained and loaded.ntotal == 0


def test_read_errors(tmp_path):
    with pytest.raises(OSError) as e:
        knnx.read_index(tmp_path / "missing.knnx")
    assert isinstance(e.value, knnx.IoError) and "missing.knnx" in str(e.value)
    with pytest.raises(knnx.IoError, match="directory"):
        knnx.read_index(tmp_path)
    garbage = tmp_path / "garbage.knnx"
    garbage.write_bytes(b"not an index file at all" * 10)
    with pytest.raises(knnx.FormatError) as e:
        knnx.read_index(garbage)
    assert isinstance(e.value, OSError) and "garbage.knnx" in str(e.value)
    # A flipped byte inside a saved index fails its checksum.
    good = tmp_path / "good.knnx"
    index = knnx.IndexFlat(8)
    index.add(np.ones((100, 8), np.float32))
    knnx.write_index(index, good)
    raw = bytearray(good.read_bytes())
    raw[-20] ^= 0xFF
    corrupt = tmp_path / "corrupt.knnx"
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(knnx.FormatError):
        knnx.read_index(corrupt)
    truncated = tmp_path / "truncated.knnx"
    truncated.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(knnx.FormatError):
        knnx.read_index(truncated)
    with pytest.raises(ValueError, match="device"):
        knnx.read_index(good, device="tpu")


def test_write_errors(tmp_path):
    index = knnx.IndexFlat(4)
    with pytest.raises(knnx.IoError):
        knnx.write_index(index, tmp_path / "no" / "such" / "dir" / "x.knnx")
    with pytest.raises(OSError):
        knnx.write_index(index, tmp_path)  # a directory
    with pytest.raises(TypeError):
        knnx.write_index("not an index", tmp_path / "x.knnx")


def test_factory_builds_through_the_library(tmp_path):
    ivf = knnx.index_factory(16, "IVF8,Flat", metric="ip")
    assert type(ivf) is knnx.IndexIVFFlat and ivf.n_lists == 8
    assert ivf.metric == knnx.Metric.INNER_PRODUCT
    x, q = data(1000, 16, 5), data(20, 16, 6)
    ivf.train(x)
    ivf.add(x)
    knnx.write_index(ivf, tmp_path / "f.knnx")
    assert_same_search(ivf, knnx.read_index(tmp_path / "f.knnx"), q, 5)


def transform_factory_or_skip(d, spec):
    try:
        return knnx.index_factory(d, spec)
    except ValueError as e:
        if spec.split(",")[0] in str(e):
            pytest.skip(f"this build's index_factory has no transforms: {e}")
        raise


@pytest.mark.parametrize("spec", ["PCA16,IVF8,Flat", "RR32,Flat", "L2norm,Flat",
                                  "OPQ4_16,IVF8,Flat", "PCAR16,Flat"])
def test_transform_spec_round_trip(tmp_path, spec):
    index = transform_factory_or_skip(32, spec)
    assert type(index) is knnx.IndexPreTransform
    x, q = data(3000, 32, 7), data(40, 32, 8)
    index.train(x)
    index.add(x)
    if index.index_kind == "IVFFlat":
        index.n_probe = 3
    D, I = index.search(q, 10)
    assert (I >= 0).all()
    path = tmp_path / "t.knnx"
    knnx.write_index(index, path)
    loaded = knnx.read_index(path)
    assert type(loaded) is knnx.IndexPreTransform
    assert [type(t) for t in loaded.transforms] == [type(t) for t in index.transforms]
    if index.index_kind == "IVFFlat":
        assert loaded.n_probe == 3
    assert_same_search(index, loaded, q, 10)


@pytest.mark.gpu
def test_gpu_round_trip_any_device(tmp_path):
    x, q = data(5000, 32, 9), data(30, 32, 10)
    cpu = knnx.IndexIVFFlat(32, 16)
    cpu.train(x)
    cpu.add(x)
    cpu.n_probe = 16
    knnx.write_index(cpu, tmp_path / "c.knnx")
    gpu = knnx.read_index(tmp_path / "c.knnx", device="cuda")
    assert type(gpu) is knnx.IndexIVFFlat and gpu.device == "cuda:0"
    Dc, Ic = cpu.search(q, 10)
    Dg, Ig = gpu.search(q, 10)
    np.testing.assert_allclose(Dg, Dc, rtol=1e-4, atol=1e-3)
    assert (Ig != Ic).mean() < 0.01
    knnx.write_index(gpu, tmp_path / "g.knnx")
    back = knnx.read_index(tmp_path / "g.knnx")
    assert_same_search(cpu, back, q, 10)
