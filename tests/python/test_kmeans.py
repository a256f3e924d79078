"""knnx.KMeans: objective, determinism, settings, assignment, errors, and FAISS's k-means."""

import numpy as np
import pytest

import knnx


def mixture(n, d, clusters, seed):
    return knnx.make_mixture_base(n, d, n_clusters=clusters, seed=seed)


def full_objective(x, centroids):
    """Sum over x of the squared distance to the nearest centroid, in float64."""
    x = x.astype(np.float64)
    c = centroids.astype(np.float64)
    d2 = (x ** 2).sum(1)[:, None] - 2 * x @ c.T + (c ** 2).sum(1)[None, :]
    return float(np.maximum(d2.min(1), 0).sum())


@pytest.mark.parametrize("init", ["kmeans++", "random"])
def test_objective_decreases_and_assignment_is_nearest(init):
    x = mixture(5000, 16, 20, seed=2)
    km = knnx.KMeans(16, 20, n_iter=15, init=init, seed=7)
    assert not km.is_trained and km.centroids.shape == (0, 16)
    km.train(x)
    assert km.is_trained and km.centroids.shape == (20, 16) and km.centroids.dtype == np.float32
    obj = km.objective
    assert obj.dtype == np.float64 and obj.shape == (15,)
    assert np.all(np.diff(obj) <= 1e-6 * obj[0])
    assert obj[-1] < obj[0]
    np.testing.assert_array_equal(km.obj, obj)
    D, I = km.assign(x)
    c = km.centroids.astype(np.float64)
    d2 = ((x[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)
    np.testing.assert_allclose(D, d2[np.arange(len(x)), I], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(D, d2.min(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(km.predict(x), I)
    assert I.dtype == np.int64 and D.dtype == np.float32


def test_same_seed_same_centroids_other_seed_differs():
    x = mixture(4000, 12, 30, seed=4)
    runs = []
    for seed in (11, 11, 12):
        km = knnx.KMeans(12, 30, seed=seed, n_iter=8)
        km.train(x)
        runs.append((km.centroids, km.objective))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    assert not np.array_equal(runs[0][0], runs[2][0])


def test_params_object_and_subsampling():
    x = mixture(6000, 8, 10, seed=5)
    params = knnx.KMeansParams(n_iter=4, init=knnx.KMeansInit.RANDOM, max_points_per_centroid=50,
                               seed=3)
    km = knnx.KMeans(8, 10, params=params)
    assert km.params.init == knnx.KMeansInit.RANDOM and km.params.n_iter == 4
    km.train(x)
    assert km.n_train == 500 and km.objective.shape == (4,)
    same = knnx.KMeans(8, 10, n_iter=4, init="random", max_points_per_centroid=50, seed=3)
    same.train(x)
    np.testing.assert_array_equal(same.centroids, km.centroids)
    few = knnx.KMeans(8, 10, n_iter=2)
    few.train(x[:100])
    assert few.warnings and "10" in few.warnings[0]
    with pytest.raises(ValueError, match="either as params= or as keyword"):
        knnx.KMeans(8, 10, params=params, n_iter=3)
    with pytest.raises(TypeError):
        knnx.KMeans(8, 10, n_iters=3)


def test_progress_callback_and_verbose(capfd):
    x = mixture(2000, 8, 10, seed=6)
    seen = []
    km = knnx.KMeans(8, 10, n_iter=5, verbose=True,
                     progress=lambda it, obj, sec: seen.append((it, obj, sec)))
    km.train(x)
    assert [s[0] for s in seen] == list(range(5))
    np.testing.assert_allclose([s[1] for s in seen], km.objective)
    assert all(b[2] >= a[2] >= 0 for a, b in zip(seen, seen[1:]))
    assert capfd.readouterr().err  # verbose: lines on stderr

    def stop(it, obj, sec):
        if it == 2:
            raise RuntimeError("stop here")

    before = km.centroids
    km2 = knnx.KMeans(8, 10, n_iter=5, progress=stop)
    with pytest.raises(RuntimeError, match="stop here"):
        km2.train(x)
    assert not km2.is_trained
    np.testing.assert_array_equal(km.centroids, before)


def test_spherical_inner_product():
    x = mixture(3000, 16, 12, seed=8)
    km = knnx.KMeans(16, 12, metric="ip", spherical=True, n_iter=10)
    km.train(x / np.linalg.norm(x, axis=1, keepdims=True))
    np.testing.assert_allclose(np.linalg.norm(km.centroids, axis=1), 1.0, rtol=1e-5)
    assert km.metric == knnx.Metric.INNER_PRODUCT
    D, I = km.assign(x)
    np.testing.assert_array_equal(I, np.argmax(x @ km.centroids.T, axis=1))


def test_bad_input():
    with pytest.raises(ValueError, match="k must be"):
        knnx.KMeans(8, 0)
    with pytest.raises(ValueError, match="d must be in"):
        knnx.KMeans(0, 3)
    with pytest.raises(ValueError, match="n_iter must be >= 0"):
        knnx.KMeans(8, 3, n_iter=-2)
    with pytest.raises(ValueError, match="max_points_per_centroid must be >= 1"):
        knnx.KMeans(8, 3, max_points_per_centroid=0)
    with pytest.raises(ValueError, match="init must be"):
        knnx.KMeans(8, 3, init="fancy")
    with pytest.raises(ValueError, match="progress must be None or a callable"):
        knnx.KMeans(8, 3, progress=5)
    km = knnx.KMeans(4, 5)
    x = np.ones((20, 4), np.float32)
    with pytest.raises(ValueError, match="n must be >= k"):
        km.train(x[:3])
    with pytest.raises(ValueError, match="columns"):
        km.train(np.ones((20, 5), np.float32))
    bad = np.random.default_rng(0).standard_normal((20, 4))
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        km.train(bad)
    with pytest.raises(ValueError):
        km.assign(x)  # before training
    with pytest.raises(ValueError, match="dtype"):
        km.train(np.array([["a"] * 4] * 20))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_objective_comparable_to_faiss(seed):
    faiss = pytest.importorskip("faiss")
    d, k = 32, 64
    x = mixture(30_000, d, 100, seed=seed)
    km = knnx.KMeans(d, k, n_iter=20, seed=seed)
    km.train(x)
    ref = faiss.Kmeans(d, k, niter=20, seed=seed)
    ref.train(x)
    ours, theirs = full_objective(x, km.centroids), full_objective(x, ref.centroids)
    # Different seeding (k-means++ vs FAISS's random rows): the same quality within a few %.
    assert ours <= 1.05 * theirs, (ours, theirs)
    assert ours >= 0.7 * theirs, (ours, theirs)


@pytest.mark.gpu
def test_cuda_kmeans_matches_cpu_quality():
    x = mixture(20_000, 32, 50, seed=9)
    cpu = knnx.KMeans(32, 50, n_iter=10, seed=4)
    gpu = knnx.KMeans(32, 50, n_iter=10, seed=4, device="cuda")
    cpu.train(x)
    gpu.train(x)
    assert gpu.params.device == "cuda:0"
    a, b = full_objective(x, cpu.centroids), full_objective(x, gpu.centroids)
    assert abs(a - b) <= 0.02 * a
