"""Vector transforms (PCA, RandomRotation, L2Normalize, OPQ) and IndexPreTransform."""

import numpy as np
import pytest

import knnx
from knn_reference import assert_knn_equal


def data(n=3000, d=32, seed=1):
    return knnx.make_mixture_base(n, d, n_clusters=20, seed=seed)


def test_pca_explained_variance_and_reverse():
    x = data()
    pca = knnx.PCA(32, 8)
    assert not pca.is_trained
    pca.train(x)
    assert pca.is_trained and pca.reversible and (pca.d_in, pca.d_out) == (32, 8)
    ev = pca.eigenvalues
    assert ev.shape == (32,) and np.all(np.diff(ev) <= 1e-5 * ev[0])
    x64 = x.astype(np.float64)
    cov_eig = np.sort(np.linalg.eigvalsh(np.cov(x64, rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(ev, cov_eig, rtol=1e-3, atol=1e-3 * cov_eig[0])
    y = pca.apply(x)
    assert y.shape == (3000, 8) and y.dtype == np.float32
    # The variance along each output is its eigenvalue; the outputs are uncorrelated.
    np.testing.assert_allclose(y.astype(np.float64).var(0), ev[:8], rtol=1e-3)
    np.testing.assert_allclose(pca.mean, x64.mean(0), atol=1e-4)
    a = pca.matrix.astype(np.float64)
    np.testing.assert_allclose(a @ a.T, np.eye(8), atol=1e-4)
    # The reverse is the projection onto the kept subspace: its error is the dropped variance.
    back = pca.reverse(y)
    err = ((back.astype(np.float64) - x64) ** 2).sum(1).mean()
    np.testing.assert_allclose(err, ev[8:].sum(), rtol=1e-2)
    full = knnx.PCA(32, 32)
    full.train(x)
    np.testing.assert_allclose(full.reverse(full.apply(x)), x, atol=1e-3)


def test_pca_whitening():
    x = data()
    pca = knnx.PCA(32, 6, whiten=True)
    pca.train(x)
    assert pca.whiten
    np.testing.assert_allclose(pca.apply(x).astype(np.float64).var(0), 1.0, rtol=1e-3)


def test_random_rotation_is_orthogonal_and_seeded():
    rr = knnx.RandomRotation(24, seed=5)
    assert rr.is_trained and rr.reversible
    q = rr.matrix.astype(np.float64)
    np.testing.assert_allclose(q @ q.T, np.eye(24), atol=1e-5)
    np.testing.assert_array_equal(knnx.RandomRotation(24, seed=5).matrix, rr.matrix)
    assert not np.array_equal(knnx.RandomRotation(24, seed=6).matrix, rr.matrix)
    x = data(200, 24)
    y = rr.apply(x)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-5)
    np.testing.assert_allclose(rr.reverse(y), x, atol=1e-4)


def test_l2_normalize():
    t = knnx.L2Normalize(5)
    x = np.array([[3, 4, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], np.float64)
    y = t.apply(x)
    np.testing.assert_allclose(y[0], [0.6, 0.8, 0, 0, 0], rtol=1e-6)
    np.testing.assert_array_equal(y[1], 0)
    assert t.is_trained and not t.reversible
    with pytest.raises(NotImplementedError):
        t.reverse(y)


def test_opq_is_orthogonal_and_lowers_its_error():
    x = data(2000, 16)
    opq = knnx.OPQ(16, 4, n_iter=4, ksub=16, kmeans_iter=4)
    assert opq.m == 4 and not opq.is_trained
    opq.train(x)
    r = opq.matrix.astype(np.float64)
    np.testing.assert_allclose(r @ r.T, np.eye(16), atol=1e-4)
    assert opq.objective.shape == (4,) and opq.objective[-1] <= opq.objective[0] * 1.001
    np.testing.assert_allclose(opq.reverse(opq.apply(x)), x, atol=1e-3)


def test_transform_bad_input():
    with pytest.raises(ValueError, match="d_out"):
        knnx.PCA(8, 0)
    pca = knnx.PCA(8, 4)
    with pytest.raises(ValueError):
        pca.apply(np.ones((3, 8), np.float32))  # before training
    with pytest.raises(ValueError, match="columns"):
        pca.train(np.ones((30, 7), np.float32))
    bad = np.random.default_rng(0).standard_normal((30, 8))
    bad[1, 1] = np.inf
    with pytest.raises(ValueError):
        pca.train(bad)
    with pytest.raises(ValueError):
        knnx.OPQ(10, 3)  # 3 does not divide 10


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_pre_transform_with_rotation_is_exact(metric):
    x = data(1500, 16)
    q = data(20, 16, seed=9)
    rr = knnx.RandomRotation(16, seed=3)
    index = knnx.IndexPreTransform(rr, knnx.IndexFlat(16, metric))
    index.train(x)
    index.add(x)
    assert index.ntotal == 1500 and index.index_kind == "Flat" and index.d == 16
    D, I = index.search(q, 10)
    assert_knn_equal(D, I, x, q, 10, metric, rtol=1e-3)
    np.testing.assert_allclose(index.reconstruct(7), x[7], atol=1e-4)


def test_pre_transform_chain_with_ivf():
    x = data(4000, 32)
    q = data(30, 32, seed=4)
    pca = knnx.PCA(32, 16)
    index = knnx.IndexPreTransform([knnx.RandomRotation(32), pca], knnx.IndexIVFFlat(16, 8))
    assert not index.is_trained
    index.train(x)
    assert index.is_trained and pca.is_trained  # the index trained the shared PCA
    index.add(x)
    index.n_probe = 8
    assert index.n_probe == 8
    kinds = [type(t).__name__ for t in index.transforms]
    assert kinds == ["RandomRotation", "PCA"]
    # Exact over the transformed vectors.
    y = pca.apply(index.transforms[0].apply(x))
    D, I = index.search(q, 5)
    assert_knn_equal(D, I, y, pca.apply(index.transforms[0].apply(q)), 5, "l2", rtol=1e-3)
    assert index.remove_ids(np.arange(10)) == 10 and index.ntotal == 3990


def test_pre_transform_bad_input():
    inner = knnx.IndexFlat(8)
    with pytest.raises(ValueError, match="d_out = 4 values but the index has d = 8"):
        knnx.IndexPreTransform(knnx.PCA(16, 4), inner)
    wrapped = knnx.IndexPreTransform(knnx.PCA(16, 8), inner)
    with pytest.raises(ValueError, match="moved into an IndexPreTransform"):
        inner.add(np.ones((2, 8), np.float32))
    with pytest.raises(ValueError, match="n_probe needs an IVF index"):
        wrapped.n_probe = 3
    with pytest.raises(ValueError, match="empty sequence"):
        knnx.IndexPreTransform([], knnx.IndexFlat(8))
    with pytest.raises(ValueError):
        wrapped.search(np.ones((2, 16), np.float32), 1)  # before training
