"""FAISS's IDSelector filters and range_search on knnx: each check makes the same calls on faiss
and on knnx and compares the results (labels identical as sets, distances within float
tolerance). Where fewer than k ids are admitted both return -1 labels; FAISS pads distances with
+-FLT_MAX, knnx with +-inf (docs/coming-from-faiss.md). GPU variants run the knnx side on
device="cuda" (filtering inside the GPU selection) and skip without a GPU."""

import numpy as np
import pytest

import knnx

faiss = pytest.importorskip("faiss")

D, NB, NQ, K, NLIST = 16, 2000, 20, 10, 16
METRICS = [1, 0]  # FAISS's METRIC_L2, METRIC_INNER_PRODUCT
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture
def data(rng):
    xb = rng.standard_normal((NB, D)).astype(np.float32)
    xq = rng.standard_normal((NQ, D)).astype(np.float32)
    ids = rng.permutation(NB).astype(np.int64) * 3 + 100  # rows and ids differ
    return xb, xq, ids


def selector_pairs(ids, rng):
    """(name, knnx selector, faiss selector, objects faiss needs kept alive) of every kind."""
    some = rng.choice(ids, size=NB // 10, replace=False)
    few = rng.choice(ids, size=NB // 100, replace=False)
    most = rng.choice(ids, size=NB * 9 // 10, replace=False)
    lo, hi = 100, 100 + 3 * (NB // 2)
    bitmap = np.zeros((int(ids.max()) + 8) // 8, dtype=np.uint8)
    for i in some:
        bitmap[i >> 3] |= np.uint8(1 << (i & 7))
    pairs = [
        ("batch", knnx.IDSelectorBatch(some), faiss.IDSelectorBatch(some), ()),
        ("batch_1pct", knnx.IDSelectorBatch(few), faiss.IDSelectorBatch(few), ()),
        ("batch_90pct", knnx.IDSelectorBatch(most), faiss.IDSelectorBatch(most), ()),
        ("array", knnx.IDSelectorArray(some), faiss.IDSelectorArray(some), (some,)),
        ("range", knnx.IDSelectorRange(lo, hi), faiss.IDSelectorRange(lo, hi), ()),
        ("bitmap", knnx.IDSelectorBitmap(bitmap), faiss.IDSelectorBitmap(bitmap), (bitmap,)),
    ]
    kb, fb = knnx.IDSelectorBatch(some), faiss.IDSelectorBatch(some)
    kr, fr = knnx.IDSelectorRange(lo, hi), faiss.IDSelectorRange(lo, hi)
    pairs += [
        ("not", knnx.IDSelectorNot(kr), faiss.IDSelectorNot(fr), (fr,)),
        ("and", knnx.IDSelectorAnd(kb, kr), faiss.IDSelectorAnd(fb, fr), (fb, fr)),
        ("or", knnx.IDSelectorOr(kb, kr), faiss.IDSelectorOr(fb, fr), (fb, fr)),
    ]
    return pairs


def assert_same_knn(res, ref):
    (Dk, Ik), (Df, If) = res, ref
    Dk, Ik = np.asarray(Dk), np.asarray(Ik)
    assert Ik.shape == If.shape
    for dk, ik, df, i_f in zip(Dk, Ik, Df, If):
        assert set(ik.tolist()) == set(i_f.tolist())
        found = i_f >= 0
        np.testing.assert_allclose(dk[found], df[found], rtol=1e-5, atol=1e-4)
        assert np.all(np.isinf(dk[~found]))


def assert_same_range(res, ref):
    (lk, dk, ik), (lf, df, i_f) = res, ref
    np.testing.assert_array_equal(lk, lf)
    for q in range(len(lk) - 1):
        a, b = lk[q], lk[q + 1]
        order_k, order_f = np.argsort(ik[a:b]), np.argsort(i_f[a:b])
        np.testing.assert_array_equal(ik[a:b][order_k], i_f[a:b][order_f])
        np.testing.assert_allclose(dk[a:b][order_k], df[a:b][order_f], rtol=1e-5, atol=1e-4)


def flat_pair(xb, ids, metric, device="cpu"):
    ref = faiss.IndexIDMap(faiss.IndexFlat(D, metric))
    ref.add_with_ids(xb, ids)
    index = knnx.IndexFlat(D, metric, device)
    index.add_with_ids(xb, ids)
    return index, ref


def ivf_pair(xb, ids, metric, device="cpu"):
    ref = faiss.IndexIVFFlat(faiss.IndexFlat(D, metric), D, NLIST, metric)
    ref.train(xb)
    ref.add_with_ids(xb, ids)
    quantizer = knnx.IndexFlat(D, metric, device)
    quantizer.add(ref.quantizer.reconstruct_n(0, NLIST))
    index = knnx.IndexIVFFlat(quantizer, D, NLIST)
    index.add_with_ids(xb, ids)
    return index, ref


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
def test_flat_search_with_each_selector(data, rng, metric, device):
    xb, xq, ids = data
    index, ref = flat_pair(xb, ids, metric, device)
    for name, ks, fs, _keep in selector_pairs(ids, rng):
        for k in (K, 40):  # 40 > the 20 ids of the 1% selector
            got = index.search(xq, k, params=knnx.SearchParameters(sel=ks))
            want = ref.search(xq, k, params=faiss.SearchParameters(sel=fs))
            assert_same_knn(got, want), (name, k)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
def test_ivf_search_with_each_selector(data, rng, metric, device):
    xb, xq, ids = data
    index, ref = ivf_pair(xb, ids, metric, device)
    for name, ks, fs, _keep in selector_pairs(ids, rng):
        for nprobe in (1, 4, NLIST):
            got = index.search(xq, K, params=knnx.SearchParametersIVF(sel=ks, nprobe=nprobe))
            want = ref.search(xq, K, params=faiss.SearchParametersIVF(sel=fs, nprobe=nprobe))
            assert_same_knn(got, want), (name, nprobe)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
def test_fewer_admitted_than_k_pads_with_minus_one(data, metric, device):
    xb, xq, ids = data
    pad = np.inf if metric == 1 else -np.inf
    admitted = ids[:3]
    for index, ref in (flat_pair(xb, ids, metric, device), ivf_pair(xb, ids, metric, device)):
        params_k = knnx.SearchParametersIVF if hasattr(index, "nprobe") else knnx.SearchParameters
        params_f = faiss.SearchParametersIVF if hasattr(index, "nprobe") else faiss.SearchParameters
        extra = {"nprobe": NLIST} if hasattr(index, "nprobe") else {}
        got = index.search(xq, K, params=params_k(sel=knnx.IDSelectorBatch(admitted), **extra))
        want = ref.search(xq, K, params=params_f(sel=faiss.IDSelectorBatch(admitted), **extra))
        assert_same_knn(got, want)
        assert np.all(got[1][:, 3:] == -1)
        assert np.all(got[0][:, 3:] == pad)


def midpoint_radius(index, xq, metric, rank):
    """A radius halfway between the rank-th and (rank+1)-th distances of the first query, so no
    distance sits on the edge."""
    dist, _ = index.search(xq[:1], rank + 1)
    return float((dist[0, rank - 1] + dist[0, rank]) / 2)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_range_search_matches_faiss(data, rng, metric, kind, device):
    xb, xq, ids = data
    index, ref = (flat_pair if kind == "flat" else ivf_pair)(xb, ids, metric, device)
    if kind == "ivf":
        index.nprobe = ref.nprobe = 4
    radius = midpoint_radius(ref, xq, metric, 50)
    got = index.range_search(xq, radius)
    want = ref.range_search(xq, radius)
    assert_same_range(got, want)
    assert got[0][-1] > 0
    # Sorted best first within each query (FAISS does not sort).
    lims, dist = got[0], got[1]
    for q in range(NQ):
        d = dist[lims[q]:lims[q + 1]]
        assert np.all(np.diff(d) >= 0) if metric == 1 else np.all(np.diff(d) <= 0)
    # With each selector.
    for name, ks, fs, _keep in selector_pairs(ids, rng):
        params_k = knnx.SearchParameters(sel=ks) if kind == "flat" else \
            knnx.SearchParametersIVF(sel=ks, nprobe=4)
        params_f = faiss.SearchParameters(sel=fs) if kind == "flat" else \
            faiss.SearchParametersIVF(sel=fs, nprobe=4)
        assert_same_range(index.range_search(xq, radius, params=params_k),
                          ref.range_search(xq, radius, params=params_f)), name


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", METRICS)
def test_range_search_edges(data, metric, device):
    xb, xq, ids = data
    index, ref = flat_pair(xb, ids, metric, device)
    # Empty: L2 radius 0 is strict (a query equal to a stored vector is not within it); an
    # inner product above every score.
    none = 0.0 if metric == 1 else 1e30
    got, want = index.range_search(xb[:5], none), ref.range_search(xb[:5], none)
    assert_same_range(got, want)
    np.testing.assert_array_equal(got[0], np.zeros(6, dtype=np.int64))
    assert got[1].dtype == np.float32 and got[2].dtype == np.int64
    # Everything.
    every = 1e30 if metric == 1 else -1e30
    got, want = index.range_search(xq[:2], every), ref.range_search(xq[:2], every)
    assert_same_range(got, want)
    assert got[0][-1] == 2 * NB
    with pytest.raises(ValueError):
        index.range_search(xq, float("nan"))
    with pytest.raises(ValueError):
        index.range_search(xq[:, :3], 1.0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_remove_ids_with_selectors(data, rng, kind, device):
    xb, xq, ids = data
    index, ref = (flat_pair if kind == "flat" else ivf_pair)(xb, ids, 1, device)
    pairs = selector_pairs(ids, rng)
    for name, ks, fs, _keep in pairs[:2] + pairs[3:5]:
        assert index.remove_ids(ks) == ref.remove_ids(fs), name
        assert index.ntotal == ref.ntotal
    params_k = knnx.SearchParameters() if kind == "flat" else knnx.SearchParametersIVF(nprobe=NLIST)
    params_f = faiss.SearchParameters() if kind == "flat" else faiss.SearchParametersIVF(nprobe=NLIST)
    assert_same_knn(index.search(xq, K, params=params_k), ref.search(xq, K, params=params_f))
    # Filtered searches over what remains (removed ids are no longer stored, admitted or not).
    for name, ks, fs, _keep in selector_pairs(ids, rng):
        params_k.sel, params_f.sel = ks, fs
        assert_same_knn(index.search(xq, K, params=params_k),
                        ref.search(xq, K, params=params_f)), name


def test_params_keep_their_selector_alive(data):
    xb, xq, ids = data
    index, _ = flat_pair(xb, ids, 1)
    params = knnx.SearchParameters(sel=knnx.IDSelectorNot(knnx.IDSelectorRange(0, 10**9)))
    import gc
    gc.collect()
    _, labels = index.search(xq, K, params=params)
    assert np.all(labels == -1)
    assert isinstance(params.sel, knnx.IDSelectorNot)
    params.sel = None
    assert params.sel is None
    with pytest.raises(ValueError):
        knnx.IDSelectorBitmap(np.zeros(3, dtype=np.int32))
