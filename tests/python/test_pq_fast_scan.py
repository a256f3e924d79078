"""knnx.IndexPQFastScan and knnx.IndexIVFPQFastScan (factory "PQ<M>x4fs", "IVF<n>,PQ<M>x4fs"):
FAISS's constructor forms and attribute names, files, filters, removal, typed errors, and
recall@10 within 0.02 of faiss-cpu for the same factory strings at equal parameters (those tests
skip without faiss)."""

import numpy as np
import pytest

import knnx
from knn_reference import brute_force


def data(d=32, n=4000, nq=100, seed=0):
    xb = knnx.make_mixture_base(n, d, n_clusters=64, seed=seed)
    xq = knnx.make_mixture_queries(nq, d, n_clusters=64, seed=seed)
    return xb, xq


def test_faiss_forms_attributes_files_and_filters(tmp_path):
    xb, xq = data()
    index = knnx.IndexIVFPQFastScan(knnx.IndexFlatL2(32), 32, 16, 8, 4)
    assert isinstance(index, knnx.IndexIVFPQFastScan)
    assert (index.nlist, index.nprobe, index.code_size, index.by_residual) == (16, 1, 4, True)
    assert (index.pq.M, index.pq.nbits, index.pq.ksub) == (8, 4, 16)
    index.train(xb)
    index.add(xb)
    index.nprobe = 4
    D, I = index.search(xq, 10)
    sel = knnx.IDSelectorRange(0, 2000)
    _, If = index.search(xq, 10, params=knnx.SearchParametersIVF(nprobe=16, sel=sel))
    assert ((If >= 0) & (If < 2000)).all()
    knnx.write_index(index, tmp_path / "ivfpq4.knnx")
    loaded = knnx.read_index(tmp_path / "ivfpq4.knnx")
    assert isinstance(loaded, knnx.IndexIVFPQFastScan) and loaded.nprobe == 4
    D2, I2 = loaded.search(xq, 10)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_array_equal(D, D2)
    assert index.remove_ids(np.arange(10)) == 10
    assert index.ntotal == len(xb) - 10
    assert index.list_codes(0).shape == (len(index.list_ids(0)), 4)

    flat = knnx.IndexPQFastScan(32, 8, 4, knnx.METRIC_INNER_PRODUCT)
    flat.train(xb)
    flat.add(xb[:100])
    assert flat.codes().shape == (100, 4)
    np.testing.assert_array_equal(flat.reconstruct(3), flat.pq.decode(flat.codes()[3])[0])
    knnx.write_index(flat, tmp_path / "pq4.knnx")
    assert isinstance(knnx.read_index(tmp_path / "pq4.knnx"), knnx.IndexPQFastScan)
    assert isinstance(knnx.index_factory(32, "PQ8x4fs"), knnx.IndexPQFastScan)
    plain = knnx.index_factory(32, "IVF16,PQ8x4fs", "ip")
    assert isinstance(plain, knnx.IndexIVFPQFastScan) and not plain.by_residual
    assert knnx.index_factory(32, "IVF16,PQ8x4fsr").by_residual
    assert not knnx.IndexIVFPQFastScan(32, 16, 8, by_residual=False).by_residual


def test_bad_input_is_typed():
    with pytest.raises(knnx.InvalidArgument, match="even"):
        knnx.IndexPQFastScan(30, 15)
    with pytest.raises(ValueError, match="nbits = 8"):
        knnx.IndexPQFastScan(32, 8, 8)
    with pytest.raises(ValueError, match="bbs"):
        knnx.IndexIVFPQFastScan(32, 16, 8, 4, "l2", 64)
    with pytest.raises(ValueError, match="n_lists"):
        knnx.IndexIVFPQFastScan(32, 0, 8)
    index = knnx.IndexPQFastScan(32, 8)
    with pytest.raises(ValueError, match="16"):
        index.train(np.zeros((10, 32), np.float32))
    with pytest.raises(ValueError, match="trained"):
        index.add(np.zeros((1, 32), np.float32))
    with pytest.raises(knnx.NotSupported, match="PQ8x4fs"):
        knnx.index_factory(32, "PQ8x4")


faiss = None
try:
    import faiss  # noqa: F811
except ImportError:
    pass


@pytest.mark.skipif(faiss is None, reason="faiss-cpu is not installed")
@pytest.mark.parametrize("spec,nprobe,metric", [
    ("PQ8x4fs", None, "l2"),
    ("PQ16x4fs", None, "ip"),
    ("IVF32,PQ8x4fs", 4, "l2"),
    ("IVF32,PQ8x4fsr", 4, "l2"),
    ("IVF32,PQ16x4fs", 8, "ip"),
    ("IVF32,PQ16x4fsr", 8, "ip"),
])
def test_recall_within_002_of_faiss(spec, nprobe, metric):
    d, k = 16, 10
    xb, xq = data(d=d, n=3000, nq=100)
    _, I_true = brute_force(xb, xq, k, metric)
    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = knnx.index_factory(d, spec, metric)
    ref = faiss.index_factory(d, spec, faiss_metric)
    for i in (index, ref):
        i.train(xb)
        i.add(xb)
    if nprobe:
        faiss.extract_index_ivf(ref).nprobe = nprobe
    params = knnx.SearchParametersIVF(nprobe=nprobe) if nprobe else None
    recall = knnx.recall_at_k(index.search(xq, k, params=params)[1], I_true, k)
    ref_recall = knnx.recall_at_k(ref.search(xq, k)[1], I_true, k)
    assert abs(recall - ref_recall) <= 0.02 or recall > ref_recall, (recall, ref_recall)
