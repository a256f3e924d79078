"""Where knnx.IndexRefineFlat keeps its exact vectors (refine_storage): read_index(mmap=True)
maps them from the file and answers exactly as a normal load, bit for bit, refusing changes
until they are copied to the host; on a GPU they may live on the device ("device"), where the
re-ranking gives the host's results within float rounding."""

import numpy as np
import pytest

import knnx

D = 12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(41)
    return (rng.standard_normal((600, D)).astype(np.float32),
            rng.standard_normal((20, D)).astype(np.float32))


def filled(spec, xb, device="cpu"):
    index = knnx.index_factory(D, spec, device=device)
    index.train(xb)
    index.add(xb[:500])
    index.remove_ids(np.array([3, 99], dtype=np.int64))
    index.add_with_ids(xb[500:], np.arange(7000, 7200, 2, dtype=np.int64))
    index.k_factor = 4.0
    return index


@pytest.mark.parametrize("spec", ["IVF8,PQ4,RFlat", "SQ8,RFlat"])
def test_mapped_answers_as_host_and_is_read_only(data, tmp_path, spec):
    xb, xq = data
    path = str(tmp_path / "refine.knnx")
    knnx.write_index(filled(spec, xb), path)
    host = knnx.read_index(path)
    mapped = knnx.read_index(path, mmap=True)
    assert host.refine_storage == "host"
    assert mapped.refine_storage == "mapped"
    assert knnx.read_index(path, knnx.IO_FLAG_MMAP).refine_storage == "mapped"
    for k in (1, 10):
        hd, hi = host.search(xq, k)
        md, mi = mapped.search(xq, k)
        np.testing.assert_array_equal(mi, hi)
        assert md.tobytes() == hd.tobytes()
    for change in (lambda: mapped.add(xb[:3]), lambda: mapped.remove_ids(np.array([1])),
                   lambda: mapped.reset()):
        with pytest.raises(knnx.NotSupported):
            change()
    assert mapped.ntotal == host.ntotal
    copy = str(tmp_path / "copy.knnx")
    knnx.write_index(mapped, copy)
    assert open(copy, "rb").read() == open(path, "rb").read()
    mapped.refine_storage = "host"
    mapped.add(xb[:3])
    host.add(xb[:3])
    np.testing.assert_array_equal(mapped.search(xq, 5)[1], host.search(xq, 5)[1])


def test_storage_errors(data, tmp_path):
    xb, _ = data
    index = knnx.IndexRefineFlat(knnx.IndexFlat(D))
    with pytest.raises(ValueError):
        index.refine_storage = "device"  # the base index is on the CPU
    with pytest.raises(ValueError):
        index.refine_storage = "mapped"
    with pytest.raises(ValueError):
        knnx.IndexRefineFlat(knnx.IndexFlat(D), storage="disk")
    path = str(tmp_path / "refine.knnx")
    knnx.write_index(filled("SQ8,RFlat", xb), path)
    data_bytes = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data_bytes[:-64])
    with pytest.raises(knnx.FormatError):
        knnx.read_index(path, mmap=True)


def assert_same_within_rounding(a, b):
    """Same results up to float rounding: distances close, and the same label in every slot
    whose distance is not tied (within rounding) with a neighbouring slot's."""
    (da, ia), (db, ib) = a, b
    np.testing.assert_allclose(da, db, rtol=1e-5, atol=1e-5)
    tol = 1e-5 * np.maximum(1.0, np.abs(da))
    tied = np.zeros(da.shape, dtype=bool)
    tied[:, 1:] |= np.abs(np.diff(da, axis=1)) <= tol[:, 1:]
    tied[:, :-1] |= np.abs(np.diff(da, axis=1)) <= tol[:, :-1]
    np.testing.assert_array_equal(ia[~tied], ib[~tied])


@pytest.mark.gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_device_storage_matches_host(data, tmp_path, metric):
    xb, xq = data
    cpu = knnx.index_factory(D, "SQ8,RFlat", metric)
    cpu.train(xb)
    cpu.add(xb)
    cpu.k_factor = 4.0
    path = str(tmp_path / "refine.knnx")
    knnx.write_index(cpu, path)
    gpu = knnx.read_index(path, "cuda")
    assert gpu.refine_storage == "host"
    on_host = gpu.search(xq, 10)
    gpu.refine_storage = "device"
    assert gpu.refine_storage == "device"
    assert_same_within_rounding(gpu.search(xq, 10), on_host)
    # Adds and removals reach the device copy; saved from the device, the vectors come back.
    gpu.add(xb[:5])
    assert gpu.remove_ids(np.array([0, 7])) == 2
    on_device = gpu.search(xq, 10)
    gpu.refine_storage = "host"
    assert_same_within_rounding(on_device, gpu.search(xq, 10))
    gpu.refine_storage = "device"
    knnx.write_index(gpu, path)
    back = knnx.read_index(path)
    assert back.ntotal == 603
    np.testing.assert_array_equal(back.reconstruct(601), xb[1])
    # A mapped file onto a GPU: the base index there, the mapped vectors moved onto it.
    mapped = knnx.read_index(path, "cuda", mmap=True)
    assert mapped.refine_storage == "mapped"
    mapped_d, mapped_i = mapped.search(xq, 10)
    mapped.refine_storage = "device"
    assert_same_within_rounding(mapped.search(xq, 10), (mapped_d, mapped_i))
    assert_same_within_rounding(mapped.search(xq, 10), on_device)
