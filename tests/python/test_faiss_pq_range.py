"""range_search of IndexPQ and IndexIVFPQ against faiss-cpu's on the same factory strings. FAISS
is given knnx's trained state (codebooks, coarse centroids) and stored codes and ids, so both
score the same codes: lims and ids agree up to distances within float rounding of the radius,
and the distances of common hits agree. Filters and n_probe go through SearchParameters;
IndexPQFastScan refuses range_search, as FAISS's does."""

import numpy as np
import pytest

import knnx

faiss = pytest.importorskip("faiss")

D, NB, NQ = 32, 2000, 20


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(57)
    centers = 2.0 * rng.standard_normal((20, D))
    xb = (centers[rng.integers(0, 20, NB)] + rng.standard_normal((NB, D))).astype(np.float32)
    xq = (centers[rng.integers(0, 20, NQ)] + rng.standard_normal((NQ, D))).astype(np.float32)
    return xb, xq


def faiss_twin(index, spec, metric):
    """A FAISS index of the same factory string holding index's codebooks, centroids, codes and
    ids."""
    fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    ref = faiss.index_factory(D, spec, fm)
    codebooks = np.ascontiguousarray(index.pq.centroids.ravel())
    if isinstance(index, knnx.IndexIVFPQ):
        ivf = ref  # the factory gives the IndexIVFPQ itself
        ivf.quantizer.add(index.centroids())
        faiss.copy_array_to_vector(codebooks, ivf.pq.centroids)
        ivf.is_trained = True
        if metric == "l2":
            ivf.use_precomputed_table = 1
            ivf.precompute_table()
        for lst in range(index.n_lists):
            ids = np.array(index.list_ids(lst).tolist(), dtype=np.int64)  # the C long swig takes
            codes = np.ascontiguousarray(index.list_codes(lst))
            if len(ids):
                ivf.invlists.add_entries(lst, len(ids), faiss.swig_ptr(ids), faiss.swig_ptr(codes))
        ivf.ntotal = ref.ntotal = index.ntotal
    else:
        faiss.copy_array_to_vector(codebooks, ref.pq.centroids)
        faiss.copy_array_to_vector(np.ascontiguousarray(index.codes().ravel()), ref.codes)
        ref.ntotal = index.ntotal
        ref.is_trained = True
    return ref


def expect_same_hits(ours, theirs, radius, metric):
    """Per query: the same ids except those within float rounding of the radius, and equal
    distances (to float rounding) for the common ones; ours sorted best first."""
    lims, dist, ids = ours
    flims, fdist, fids = theirs
    assert lims.shape == flims.shape and lims[0] == 0
    slack = 1e-4 * max(1.0, abs(radius))
    for q in range(len(lims) - 1):
        mine = dict(zip(ids[lims[q]:lims[q + 1]], dist[lims[q]:lims[q + 1]]))
        ref = dict(zip(fids[flims[q]:flims[q + 1]], fdist[flims[q]:flims[q + 1]]))
        for i in set(mine) ^ set(ref):
            assert abs(mine.get(i, ref.get(i)) - radius) <= slack, (q, i)
        for i in set(mine) & set(ref):
            assert abs(mine[i] - ref[i]) <= slack, (q, i)
        d = dist[lims[q]:lims[q + 1]]
        assert (np.diff(d) >= 0).all() if metric == "l2" else (np.diff(d) <= 0).all()
    return int(lims[-1])


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("spec", ["PQ8", "IVF16,PQ8"])
def test_range_search_matches_faiss(data, spec, metric):
    xb, xq = data
    index = knnx.index_factory(D, spec, knnx.METRIC_L2 if metric == "l2"
                               else knnx.METRIC_INNER_PRODUCT)
    index.train(xb)
    ivf = isinstance(index, knnx.IndexIVFPQ)
    # FAISS's IndexPQ numbers its rows; the IVF lists keep any ids.
    ids = np.arange(NB, dtype=np.int64) * (5 if ivf else 1) + (1 if ivf else 0)
    index.add_with_ids(xb, ids)
    ref = faiss_twin(index, spec, metric)
    if ivf:
        index.nprobe = faiss.extract_index_ivf(ref).nprobe = 4
    # A radius about a twentieth of the stored vectors pass for a typical query.
    Dk, _ = index.search(xq, NB // 20)
    radius = float(np.median(Dk[:, -1]))
    hits = expect_same_hits(index.range_search(xq, radius), ref.range_search(xq, radius),
                            radius, metric)
    assert hits > NQ
    # A filter, and (IVF) more lists through the params.
    half = int(ids[NB // 2])
    sel = knnx.IDSelectorRange(0, half)
    fsel = faiss.IDSelectorRange(0, half)
    if ivf:
        params = knnx.SearchParametersIVF(sel=sel, nprobe=8)
        fparams = faiss.SearchParametersIVF(sel=fsel, nprobe=8)
    else:
        params = knnx.SearchParameters(sel=sel)
        fparams = faiss.SearchParameters(sel=fsel)
    ours = index.range_search(xq, radius, params=params)
    expect_same_hits(ours, ref.range_search(xq, radius, params=fparams), radius, metric)
    assert (ours[2] < half).all()
    # No hits: a radius nothing passes.
    empty = -1.0 if metric == "l2" else 1e30
    lims, dist, ids = index.range_search(xq, empty)
    assert (lims == 0).all() and len(dist) == len(ids) == 0


def test_pq_fast_scan_refuses_range_search(data):
    xb, xq = data
    index = knnx.index_factory(D, "PQ8x4fs")
    index.train(xb)
    index.add(xb)
    with pytest.raises(knnx.NotSupported):
        index.range_search(xq, 1.0)
    ivf = knnx.index_factory(D, "IVF16,PQ8x4fs")
    ivf.train(xb)
    ivf.add(xb)
    lims, dist, _ = ivf.range_search(xq, 50.0)
    assert lims.shape == (NQ + 1,) and (dist < 50.0).all()
