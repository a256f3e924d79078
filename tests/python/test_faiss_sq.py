"""Scalar-quantizer indexes against faiss-cpu: for the same factory string and parameters,
recall@10 against a float64 brute force is within 0.02 of FAISS's; the FAISS constructor forms
and quantizer type codes work unchanged; codes round-trip within their documented bound; bad
input gets knnx's typed errors."""

import numpy as np
import pytest

import knnx
from knn_reference import brute_force

D, NB, NQ, K = 32, 4000, 300, 10


def clustered(rng, n, centers):
    return (centers[rng.integers(0, len(centers), n)]
            + 0.5 * rng.standard_normal((n, D))).astype(np.float32)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(18)
    centers = 2.0 * rng.standard_normal((50, D))
    return clustered(rng, NB, centers), clustered(rng, NQ, centers)


def recall(I, truth):
    return np.mean([len(set(a) & set(b)) / K for a, b in zip(I, truth)])


SPECS = ["SQ8", "SQ4", "SQfp16", "SQbf16", "IVF64,SQ8", "IVF64,SQfp16", "IVF64,SQ4"]


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("spec", SPECS)
def test_recall_matches_faiss(data, spec, metric):
    faiss = pytest.importorskip("faiss")
    xb, xq = data
    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    truth = brute_force(xb, xq, K, metric)[1]
    ref = faiss.index_factory(D, spec, faiss_metric)
    index = knnx.index_factory(D, spec, metric)
    for i in (ref, index):
        i.train(xb)
        i.add(xb)
    if spec.startswith("IVF"):
        faiss.extract_index_ivf(ref).nprobe = 8
        index.nprobe = 8
    r_faiss = recall(ref.search(xq, K)[1], truth)
    r_knnx = recall(index.search(xq, K)[1], truth)
    # Within 0.02 of FAISS, except that knnx may do better: on this data FAISS's IVF64,SQ4
    # reconstructs with about 3x knnx's mean squared error (0.016 against 0.005) and its
    # recall is 0.08 (L2) to 0.19 (IP) lower; every other spec agrees within 0.02.
    assert r_knnx >= r_faiss - 0.02, (spec, metric, r_knnx, r_faiss)
    if spec != "IVF64,SQ4":
        assert abs(r_knnx - r_faiss) <= 0.02, (spec, metric, r_knnx, r_faiss)


def test_faiss_constructor_forms_and_codes(data):
    xb, xq = data
    index = knnx.IndexScalarQuantizer(D, knnx.ScalarQuantizer.QT_8bit, knnx.METRIC_L2)
    index.train(xb)
    index.add(xb)
    assert index.code_size == D and index.ntotal == NB
    ivf = knnx.IndexIVFScalarQuantizer(knnx.IndexFlatIP(D), D, 16, knnx.ScalarQuantizer.QT_fp16,
                                       knnx.METRIC_INNER_PRODUCT)
    assert ivf.metric_type == knnx.METRIC_INNER_PRODUCT and ivf.by_residual and ivf.nlist == 16
    ivf.train(xb)
    ivf.add(xb)
    ivf.nprobe = 16
    D_, I = ivf.search(xq[:5], 3)
    assert I.shape == (5, 3) and (I >= 0).all()
    # The quantizer type codes are FAISS's.
    faiss = pytest.importorskip("faiss")
    for name in ("QT_8bit", "QT_4bit", "QT_fp16", "QT_bf16"):
        assert getattr(knnx.ScalarQuantizer, name) == getattr(faiss.ScalarQuantizer, name)


@pytest.mark.parametrize("qtype,share", [("QT_8bit", 1 / 510), ("QT_4bit", 1 / 30)])
def test_codes_round_trip_within_bound(data, qtype, share):
    xb, _ = data
    sq = knnx.ScalarQuantizer(D, getattr(knnx.ScalarQuantizer, qtype))
    sq.train(xb)
    back = sq.decode(sq.compute_codes(xb))
    bound = sq.vdiff * share + 1e-5 * (np.abs(sq.vmin) + sq.vdiff)
    assert (np.abs(back - xb) <= bound).all()


def test_float_codes_round_trip_within_bound(data):
    xb, _ = data
    for qtype, rel in (("QT_fp16", 2.0**-11), ("QT_bf16", 2.0**-8)):
        sq = knnx.ScalarQuantizer(D, getattr(knnx.ScalarQuantizer, qtype))
        back = sq.decode(sq.compute_codes(xb))
        assert (np.abs(back - xb) <= np.maximum(np.abs(xb) * rel, 2.0**-25)).all()


def test_bad_input_gets_typed_errors(data):
    xb, xq = data
    index = knnx.IndexScalarQuantizer(D, knnx.ScalarQuantizer.QT_8bit)
    with pytest.raises(ValueError, match="trained"):
        index.add(xb)  # untrained
    with pytest.raises(knnx.NotSupported):
        knnx.IndexScalarQuantizer(D, 6)  # FAISS's QT_6bit
    with pytest.raises(ValueError, match="qtype"):
        knnx.IndexScalarQuantizer(D, 42)
    with pytest.raises(knnx.NotSupported):
        knnx.index_factory(D, "SQ8_direct")
    index.train(xb)
    index.add(xb[:10])
    with pytest.raises(ValueError):
        index.search(xq[:, :D - 1], 5)  # d mismatch
    with pytest.raises(ValueError):
        knnx.IndexIVFScalarQuantizer(D, 0, knnx.ScalarQuantizer.QT_8bit)
    if not knnx.cuda_backend_compiled():  # with a GPU it runs there (test_sq_gpu.py)
        with pytest.raises(knnx.NotSupported):
            knnx.IndexScalarQuantizer(D, knnx.ScalarQuantizer.QT_8bit, device="cuda")


def test_save_load_and_filters(data, tmp_path):
    xb, xq = data
    index = knnx.index_factory(D, "IVF32,SQ8")
    index.train(xb)
    index.add_with_ids(xb[:1000], np.arange(1000) * 2)
    index.nprobe = 4
    path = tmp_path / "ivf_sq8.knnx"
    knnx.write_index(index, str(path))
    loaded = knnx.read_index(str(path))
    assert isinstance(loaded, knnx.IndexIVFScalarQuantizer) and loaded.nprobe == 4
    np.testing.assert_array_equal(loaded.search(xq, K)[1], index.search(xq, K)[1])
    sel = knnx.IDSelectorRange(0, 100)
    _, I = loaded.search(xq, K, params=knnx.SearchParametersIVF(sel=sel, nprobe=32))
    assert ((I >= 0) & (I < 100) | (I == -1)).all()
    lims, Dr, Ir = loaded.range_search(xq[:3], 10.0)
    assert lims.shape == (4,) and (Dr < 10.0).all()


def test_refine_flat_reranks_with_exact_distances(data):
    xb, xq = data
    truth = brute_force(xb, xq, K, "l2")
    index = knnx.index_factory(D, "IVF32,SQ4,RFlat")
    assert isinstance(index, knnx.IndexRefineFlat) and index.k_factor == 1.0
    index.train(xb)
    index.add(xb)
    base = knnx.SearchParametersIVF(nprobe=32)
    r1 = recall(index.search(xq, K, params=knnx.SearchParametersRefine(base_index_params=base))[1],
                truth[1])
    D8, I8 = index.search(xq, K, params=knnx.SearchParametersRefine(k_factor=8,
                                                                     base_index_params=base))
    assert recall(I8, truth[1]) > r1 and recall(I8, truth[1]) >= 0.95
    exact = ((xq[:, None, :].astype(np.float64) - xb[I8].astype(np.float64)) ** 2).sum(-1)
    np.testing.assert_allclose(D8, exact, rtol=1e-4, atol=1e-4)
    wrapped = knnx.IndexRefineFlat(knnx.IndexScalarQuantizer(D, knnx.ScalarQuantizer.QT_fp16),
                                   k_factor=2)
    wrapped.add(xb[:100])
    assert wrapped.ntotal == 100 and wrapped.k_factor == 2.0
    with pytest.raises(ValueError):
        wrapped.k_factor = 0.5


@pytest.mark.parametrize("k_factor", [1.0, 4.0])
def test_refine_flat_matches_faiss(data, k_factor):
    """faiss.IndexRefineFlat and knnx.IndexRefineFlat over the same base spec ("SQ4,RFlat"):
    recall within 0.02, and every returned distance is the exact one of its id."""
    faiss = pytest.importorskip("faiss")
    xb, xq = data
    truth = brute_force(xb, xq, K, "l2")[1]
    ref = faiss.index_factory(D, "SQ4,RFlat")
    index = knnx.index_factory(D, "SQ4,RFlat")
    assert isinstance(index, knnx.IndexRefineFlat)
    for i in (ref, index):
        i.train(xb)
        i.add(xb)
        i.k_factor = k_factor
    r_faiss = recall(ref.search(xq, K)[1], truth)
    dist, ids = index.search(xq, K)
    r_knnx = recall(ids, truth)
    assert abs(r_knnx - r_faiss) <= 0.02, (k_factor, r_knnx, r_faiss)
    exact = ((xq[:, None, :] - xb[ids]) ** 2).sum(-1)
    np.testing.assert_allclose(dist, exact, rtol=1e-4, atol=1e-3)
