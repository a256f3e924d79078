"""knnx.ProductQuantizer, knnx.IndexPQ and knnx.IndexIVFPQ: the codec, FAISS's constructor
forms and attribute names, typed errors, files, and recall@10 within 0.02 of faiss-cpu for the
same factory strings at equal parameters (those tests skip without faiss)."""

import numpy as np
import pytest

import knnx
from knn_reference import brute_force


def data(d=32, n=6000, nq=100, seed=0):
    xb = knnx.make_mixture_base(n, d, n_clusters=64, seed=seed)
    xq = knnx.make_mixture_queries(nq, d, n_clusters=64, seed=seed)
    return xb, xq


def test_product_quantizer_round_trip_and_tables():
    xb, xq = data()
    pq = knnx.ProductQuantizer(32, 8, 8)
    assert (pq.d, pq.M, pq.nbits, pq.dsub, pq.ksub, pq.code_size) == (32, 8, 8, 4, 256, 8)
    pq.train(xb)
    codes = pq.compute_codes(xb[:50])
    assert codes.dtype == np.uint8 and codes.shape == (50, 8)
    decoded = pq.decode(codes)
    assert decoded.shape == (50, 32)
    # A finer quantizer reconstructs better.
    coarse = knnx.ProductQuantizer(32, 2, 8)
    coarse.train(xb)
    err_fine = ((pq.decode(pq.compute_codes(xb)) - xb) ** 2).sum(1).mean()
    err_coarse = ((coarse.decode(coarse.compute_codes(xb)) - xb) ** 2).sum(1).mean()
    assert err_fine < err_coarse
    tables = pq.compute_distance_tables(xq[:3])
    assert tables.shape == (3, 8, 256)
    summed = tables[:, np.arange(8), codes[:1].ravel()].sum(axis=1)
    want = ((xq[:3] - decoded[0]) ** 2).sum(1)
    np.testing.assert_allclose(summed, want, rtol=1e-4)
    assert pq.centroids.shape == (8, 256, 4)


def test_bad_input_is_typed():
    with pytest.raises(ValueError, match="M must divide d = 30"):
        knnx.IndexPQ(30, 7)
    with pytest.raises(knnx.InvalidArgument, match="nbits = 4"):
        knnx.ProductQuantizer(32, 8, 4)
    with pytest.raises(ValueError, match="nbits"):
        knnx.IndexIVFPQ(32, 16, 8, 6)
    index = knnx.IndexPQ(32, 8)
    with pytest.raises(ValueError, match="256"):
        index.train(np.zeros((100, 32), np.float32))
    with pytest.raises(ValueError, match="trained"):
        index.add(np.zeros((1, 32), np.float32))
    with pytest.raises(knnx.NotSupported, match="PQ32x4fs"):
        knnx.index_factory(64, "IVF64,PQ32x4")


def test_faiss_forms_attributes_files_and_filters(tmp_path):
    xb, xq = data()
    index = knnx.IndexIVFPQ(knnx.IndexFlatL2(32), 32, 16, 8, 8)
    assert (index.nlist, index.nprobe, index.code_size, index.by_residual) == (16, 1, 8, True)
    assert index.pq.M == 8
    index.train(xb)
    index.add(xb)
    index.nprobe = 4
    assert index.use_precomputed_table and index.precomputed_table_in_use
    D, I = index.search(xq, 10)
    sel = knnx.IDSelectorRange(0, 3000)
    _, If = index.search(xq, 10, params=knnx.SearchParametersIVF(nprobe=16, sel=sel))
    assert ((If >= 0) & (If < 3000)).all()
    knnx.write_index(index, tmp_path / "ivfpq.knnx")
    loaded = knnx.read_index(tmp_path / "ivfpq.knnx")
    assert isinstance(loaded, knnx.IndexIVFPQ) and loaded.nprobe == 4
    D2, I2 = loaded.search(xq, 10)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_array_equal(D, D2)
    assert index.remove_ids(np.arange(10)) == 10
    assert index.ntotal == len(xb) - 10
    flat_codes = knnx.IndexPQ(32, 8, 8, knnx.METRIC_INNER_PRODUCT)
    flat_codes.train(xb)
    flat_codes.add(xb[:100])
    assert flat_codes.codes().shape == (100, 8)
    np.testing.assert_array_equal(flat_codes.reconstruct(3),
                                  flat_codes.pq.decode(flat_codes.codes()[3])[0])


faiss = None
try:
    import faiss  # noqa: F811
except ImportError:
    pass


def _build(index, ref, xb, nprobe):
    index.train(xb)
    index.add(xb)
    ref.train(xb)
    ref.add(xb)
    if nprobe:
        faiss.extract_index_ivf(ref).nprobe = nprobe


# "np": FAISS's factory otherwise adds polysemous training, which only renumbers codebook
# entries (the same recall) and takes most of the test's time; knnx accepts and ignores it.
@pytest.mark.skipif(faiss is None, reason="faiss-cpu is not installed")
@pytest.mark.parametrize("spec,nprobe,metric", [
    ("PQ8np", None, "l2"),
    ("PQ8x8np", None, "ip"),
    ("IVF32,PQ8np", 4, "l2"),
    ("IVF32,PQ4np", 8, "ip"),
    ("OPQ4,IVF32,PQ4np", 4, "l2"),
])
def test_recall_within_002_of_faiss(spec, nprobe, metric):
    d, k = 16, 10
    xb, xq = data(d=d, n=3000, nq=100)
    _, I_true = brute_force(xb, xq, k, metric)
    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    if spec.startswith("OPQ"):
        # The same OPQ on both sides, with few iterations to keep the test short.
        inner = spec.split(",", 1)[1]
        index = knnx.IndexPreTransform(knnx.OPQ(d, 4, n_iter=4, kmeans_iter=4),
                                       knnx.index_factory(d, inner, metric))
        opq = faiss.OPQMatrix(d, 4)
        opq.niter, opq.niter_pq = 4, 4
        ref = faiss.IndexPreTransform(opq, faiss.index_factory(d, inner, faiss_metric))
    else:
        index = knnx.index_factory(d, spec, metric)
        ref = faiss.index_factory(d, spec, faiss_metric)
    _build(index, ref, xb, nprobe)
    params = knnx.SearchParametersIVF(nprobe=nprobe) if nprobe else None
    recall = knnx.recall_at_k(index.search(xq, k, params=params)[1], I_true, k)
    ref_recall = knnx.recall_at_k(ref.search(xq, k)[1], I_true, k)
    assert recall >= ref_recall - 0.02, (recall, ref_recall)
