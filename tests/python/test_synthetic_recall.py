"""Synthetic Gaussian-mixture data and recall@k, as bound from C++."""

import numpy as np
import pytest

import knnx
from knn_reference import brute_force


def test_mixture_is_reproducible_and_prefix_stable():
    g = knnx.GaussianMixture(d=16, n_clusters=5, seed=7)
    assert (g.d, g.n_clusters, g.seed) == (16, 5, 7)
    assert g.centers().shape == (5, 16) and g.centers().dtype == np.float32
    x, clusters = g.sample(3000, knnx.BASE_STREAM)
    assert x.shape == (3000, 16) and x.dtype == np.float32
    assert clusters.shape == (3000,) and clusters.dtype == np.int32
    assert set(np.unique(clusters)) <= set(range(5))
    np.testing.assert_array_equal(g.sample(3000)[0], x)
    np.testing.assert_array_equal(g.sample(100)[0], x[:100])
    np.testing.assert_array_equal(knnx.make_mixture_base(3000, d=16, n_clusters=5, seed=7), x)
    q = knnx.make_mixture_queries(50, d=16, n_clusters=5, seed=7)
    np.testing.assert_array_equal(q, g.sample(50, knnx.QUERY_STREAM)[0])
    assert not np.array_equal(q, x[:50])
    other = knnx.make_mixture_base(100, d=16, n_clusters=5, seed=8)
    assert not np.array_equal(other, x[:100])
    # Points sit near their own centre: noise_stddev 0.2 against centres spread 1.0.
    spread = np.linalg.norm(x - g.centers()[clusters], axis=1)
    assert spread.mean() < 0.2 * np.sqrt(16) * 1.2


@pytest.mark.parametrize("kwargs,pattern", [
    ({"d": 0}, "spec.dim"), ({"n_clusters": 0}, "spec.n_clusters"),
    ({"noise_stddev": -1.0}, "spec.noise_stddev"), ({"center_stddev": float("nan")}, "center"),
])
def test_mixture_rejects_bad_specs(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        knnx.GaussianMixture(**kwargs)
    with pytest.raises(ValueError, match="n must be >= 0"):
        knnx.GaussianMixture().sample(-1)


def test_recall_of_exact_search_is_one():
    xb = knnx.make_mixture_base(2000, d=32, seed=1)
    xq = knnx.make_mixture_queries(40, d=32, seed=1)
    _, gt = brute_force(xb, xq, 100, "l2")
    index = knnx.IndexFlat(32)
    index.add(xb)
    _, I = index.search(xq, 10)
    assert knnx.recall_at_k(I, gt, 10) == pytest.approx(1.0)
    assert knnx.recall_at_k(I, gt) == pytest.approx(1.0)  # k defaults to labels.shape[1]
    per_query = knnx.recall_at_k_per_query(I, gt, 10)
    assert per_query.shape == (40,) and per_query.dtype == np.float64
    np.testing.assert_allclose(per_query, 1.0)


def test_recall_counts_found_neighbours():
    gt = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    labels = np.array([[1, 9, 3, -1], [8, 7, 6, 5]], dtype=np.int32)
    np.testing.assert_allclose(knnx.recall_at_k_per_query(labels, gt, 4), [0.5, 1.0])
    assert knnx.recall_at_k(labels, gt, 4) == pytest.approx(0.75)
    assert knnx.recall_at_k(labels, gt, 1) == pytest.approx(0.5)  # [1] vs [1]; [8] vs [5]


def test_recall_rejects_bad_arguments():
    gt = np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match=r"k must be in \[1, labels.shape\[1\] = 4\], got 5"):
        knnx.recall_at_k(gt, gt, 5)
    with pytest.raises(ValueError, match="ground_truth has 1 rows, fewer than the 2 rows"):
        knnx.recall_at_k(gt, gt[:1], 2)
    with pytest.raises(ValueError, match="labels must hold integers"):
        knnx.recall_at_k(gt.astype(np.float32), gt, 2)
    with pytest.raises(ValueError, match="exceeds the ground truth"):
        knnx.recall_at_k(gt, gt[:, :2], 3)
