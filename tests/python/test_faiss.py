"""knnx.IndexFlat gives the same results as FAISS's IndexFlatL2 / IndexFlatIP."""

import numpy as np
import pytest

import knnx

faiss = pytest.importorskip("faiss")


def assert_same_results(D, I, D_ref, I_ref):
    """Equal up to float32 rounding; labels may differ only where the distances tie."""
    np.testing.assert_allclose(D, D_ref, rtol=1e-5, atol=1e-4)
    differ = I != I_ref
    assert differ.mean() < 0.01, f"{differ.sum()} of {I.size} labels differ"
    # A swapped pair must sit at (nearly) equal distances.
    np.testing.assert_allclose(D[differ], D_ref[differ], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,d,nq,k", [(1000, 32, 50, 10), (5000, 128, 20, 100),
                                      (333, 7, 64, 1), (10, 16, 5, 20)])
def test_same_as_faiss(rng, metric, n, d, nq, k):
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    ref = faiss.IndexFlatL2(d) if metric == "l2" else faiss.IndexFlatIP(d)
    ref.add(xb)
    D_ref, I_ref = ref.search(xq, k)

    index = knnx.IndexFlat(d, metric)
    index.add(xb)
    D, I = index.search(xq, k)

    # FAISS pads with -1 and +/-FLT_MAX or +/-inf depending on the version; knnx uses +/-inf.
    pad = I_ref == -1
    np.testing.assert_array_equal(I == -1, pad)
    assert np.isinf(D[pad]).all()
    assert_same_results(D[~pad].reshape(nq, -1), I[~pad].reshape(nq, -1),
                        D_ref[~pad].reshape(nq, -1), I_ref[~pad].reshape(nq, -1))


def test_same_as_faiss_with_ids_and_removal(rng):
    d = 24
    xb = rng.standard_normal((2000, d)).astype(np.float32)
    xq = rng.standard_normal((30, d)).astype(np.float32)
    ids = rng.permutation(100_000)[:2000].astype(np.int64)
    ref = faiss.IndexIDMap(faiss.IndexFlatL2(d))
    ref.add_with_ids(xb, ids)
    index = knnx.IndexFlatL2(d)
    index.add_with_ids(xb, ids)
    removed = ids[::7]
    assert index.remove_ids(removed) == ref.remove_ids(removed) == len(removed)
    assert index.ntotal == ref.ntotal
    assert_same_results(*index.search(xq, 25), *ref.search(xq, 25))
