"""Float64 brute-force k-NN and a tie-tolerant comparison of search results."""

import numpy as np


def brute_force(xb, xq, k, metric, ids=None):
    """Exact (D, I) in float64 with FAISS conventions (-1 and +/-inf where fewer than k)."""
    xb = np.asarray(xb, dtype=np.float64)
    xq = np.asarray(xq, dtype=np.float64)
    if metric == "l2":
        dist = ((xq[:, None, :] - xb[None, :, :]) ** 2).sum(-1)
        order = np.argsort(dist, axis=1, kind="stable")
        empty = np.inf
    else:
        dist = xq @ xb.T
        order = np.argsort(-dist, axis=1, kind="stable")
        empty = -np.inf
    nq, n = dist.shape
    D = np.full((nq, k), empty)
    I = np.full((nq, k), -1, dtype=np.int64)
    m = min(k, n)
    D[:, :m] = np.take_along_axis(dist, order[:, :m], axis=1)
    labels = order[:, :m] if ids is None else np.asarray(ids, dtype=np.int64)[order[:, :m]]
    I[:, :m] = labels
    return D, I


def assert_knn_equal(D, I, xb, xq, k, metric, ids=None, rtol=1e-4):
    """Checks a search result against brute force, allowing neighbours that tie to swap.

    Distances must match the exact ones rank by rank; every returned label must be a stored id
    whose exact distance equals the returned distance; labels must be distinct; padding must
    follow the FAISS conventions.
    """
    D_ref, I_ref = brute_force(xb, xq, k, metric, ids)
    assert D.dtype == np.float32 and I.dtype == np.int64
    assert D.shape == I.shape == (len(xq), k)
    xb64 = np.asarray(xb, dtype=np.float64)
    xq64 = np.asarray(xq, dtype=np.float64)
    # Errors of float32 distance arithmetic scale with the squared norms involved.
    scale = (xq64 ** 2).sum(1).max() + (xb64 ** 2).sum(1).max() if len(xb64) else 1.0
    atol = rtol * max(scale, 1.0)
    finite = np.isfinite(D_ref)
    np.testing.assert_array_equal(np.isfinite(D), finite)
    np.testing.assert_array_equal(D[~finite], D_ref[~finite])
    np.testing.assert_array_equal(I[~finite], -1)
    np.testing.assert_allclose(D[finite], D_ref[finite], rtol=rtol, atol=atol)
    id_array = np.arange(len(xb64)) if ids is None else np.asarray(ids, dtype=np.int64)
    row_of = {int(v): r for r, v in enumerate(id_array)}
    for qi in range(len(xq64)):
        got = [int(v) for v in I[qi] if v != -1]
        assert len(set(got)) == len(got), f"query {qi}: repeated labels {got}"
        for j, label in enumerate(got):
            assert label in row_of, f"query {qi}: label {label} is not stored"
            x = xb64[row_of[label]]
            exact = ((xq64[qi] - x) ** 2).sum() if metric == "l2" else xq64[qi] @ x
            assert abs(exact - D[qi, j]) <= atol + rtol * abs(exact), (
                f"query {qi} rank {j}: label {label} has distance {exact}, reported {D[qi, j]}")
