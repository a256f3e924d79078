"""knnx.IndexIVFFlat: exact with n_probe = n_lists, FAISS-like recall otherwise, bookkeeping,
settings and verbose training."""

import numpy as np
import pytest

import knnx
from knn_reference import assert_knn_equal, brute_force


def trained_ivf(xb, n_lists, metric="l2", **kwargs):
    index = knnx.IndexIVFFlat(xb.shape[1], n_lists, metric, **kwargs)
    index.train(xb)
    return index


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,d,n_lists,nq,k", [(2000, 32, 16, 40, 10), (500, 7, 50, 10, 64),
                                              (300, 16, 1, 5, 300), (60, 4, 20, 8, 100)])
def test_full_probe_is_exact(rng, metric, n, d, n_lists, nq, k):
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    index = trained_ivf(xb, n_lists, metric)
    index.add(xb)
    index.n_probe = n_lists
    D, I = index.search(xq, k)
    assert_knn_equal(D, I, xb, xq, k, metric)


def test_full_probe_with_ids_float64_and_fortran_order(rng):
    xb = rng.standard_normal((1500, 24))  # float64
    xq = np.asfortranarray(rng.standard_normal((30, 24)))
    ids = rng.permutation(1_000_000)[:1500].astype(np.int64)
    index = trained_ivf(np.asfortranarray(xb), 12)
    index.add_with_ids(xb, ids)
    index.n_probe = 12
    D, I = index.search(xq, 20)
    assert_knn_equal(D, I, xb, xq, 20, "l2", ids=ids)


def test_recall_grows_with_n_probe(rng):
    xb = knnx.make_mixture_base(20_000, 32, n_clusters=64, seed=3)
    xq = knnx.make_mixture_queries(200, 32, n_clusters=64, seed=3)
    _, I_ref = brute_force(xb, xq, 10, "l2")
    index = trained_ivf(xb, 64)
    index.add(xb)
    recalls = []
    for n_probe in (1, 4, 16, 64):
        index.n_probe = n_probe
        recalls.append(knnx.recall_at_k(index.search(xq, 10)[1], I_ref, 10))
    assert recalls == sorted(recalls) and recalls[-1] == 1.0
    assert recalls[0] > 0.3


def test_bookkeeping(rng):
    d, n_lists = 8, 10
    xb = rng.standard_normal((400, d)).astype(np.float32)
    index = knnx.IndexIVFFlat(d, n_lists, metric=knnx.Metric.L2)
    assert (index.d, index.n_lists, index.n_probe, index.ntotal) == (d, n_lists, 1, 0)
    assert not index.is_trained and index.device == "cpu"
    assert "IndexIVFFlat(d=8" in repr(index)
    np.testing.assert_array_equal(index.centroids(), np.zeros((n_lists, d), np.float32))
    index.train(xb)
    assert index.is_trained and index.centroids().shape == (n_lists, d)
    index.add(xb[:300])
    index.add_with_ids(xb[300:], np.arange(1000, 1100))
    assert index.ntotal == len(index) == 400
    sizes = index.list_sizes()
    assert sizes.dtype == np.int64 and sizes.shape == (n_lists,) and sizes.sum() == 400
    assert index.imbalance_factor() >= 1.0
    all_ids = np.concatenate([index.list_ids(i) for i in range(n_lists)])
    np.testing.assert_array_equal(np.sort(all_ids),
                                  np.concatenate([np.arange(300), np.arange(1000, 1100)]))
    for lst in range(n_lists):
        for row, i in zip(index.list_vectors(lst), index.list_ids(lst)):
            expected = xb[i] if i < 300 else xb[300 + i - 1000]
            np.testing.assert_array_equal(row, expected)
    np.testing.assert_array_equal(index.reconstruct(1005), xb[305])
    np.testing.assert_array_equal(index.reconstruct(7), xb[7])
    assert index.remove_ids(np.arange(0, 300, 2)) == 150
    assert index.remove_ids([5_000_000]) == 0
    assert index.ntotal == 250
    index.add(xb[:5])  # sequential ids continue past the largest ever held
    assert index.list_sizes().sum() == 255 and 1100 in np.concatenate(
        [index.list_ids(i) for i in range(n_lists)])
    index.reset()
    assert index.ntotal == 0 and index.is_trained
    index.add(xb[:3])
    np.testing.assert_array_equal(index.reconstruct(2), xb[2])


def test_n_probe_is_clamped_and_checked():
    index = knnx.IndexIVFFlat(4, 8)
    index.n_probe = 3
    assert index.n_probe == 3
    index.n_probe = 1000
    assert index.n_probe == 8
    index.n_probe = 2**40
    assert index.n_probe == 8
    for bad in (0, -1):
        with pytest.raises(ValueError, match=f"n_probe must be >= 1, got {bad}"):
            index.n_probe = bad
    assert index.n_probe == 8


def test_set_centroids_skips_training(rng):
    d, n_lists = 6, 4
    centroids = (np.eye(n_lists, d) * 10).astype(np.float32)
    index = knnx.IndexIVFFlat(d, n_lists)
    index.set_centroids(centroids)
    assert index.is_trained
    np.testing.assert_array_equal(index.centroids(), centroids)
    x = centroids + rng.standard_normal((n_lists, d)).astype(np.float32) * 0.1
    index.add(x)
    np.testing.assert_array_equal(index.list_sizes(), np.ones(n_lists))
    for lst in range(n_lists):
        np.testing.assert_array_equal(index.list_ids(lst), [lst])
    with pytest.raises(ValueError, match="set_centroids needs an empty index"):
        index.set_centroids(centroids)
    with pytest.raises(ValueError, match="centroids has 3 rows"):
        knnx.IndexIVFFlat(d, n_lists).set_centroids(centroids[:3])


def test_kmeans_params_steer_training(rng):
    xb = rng.standard_normal((1000, 8)).astype(np.float32)
    index = knnx.IndexIVFFlat(8, 16)
    params = index.kmeans_params
    assert params.n_iter == 10  # FAISS's IVF default
    params.n_iter, params.seed = 3, 99
    calls = []
    params.progress = lambda it, obj, sec: calls.append((it, obj))
    index.kmeans_params = params
    assert index.kmeans_params.seed == 99 and index.kmeans_params.progress is not None
    index.train(xb)
    assert [c[0] for c in calls] == [0, 1, 2]
    same = knnx.IndexIVFFlat(8, 16)
    same.kmeans_params = knnx.KMeansParams(n_iter=3, seed=99)
    same.train(xb)
    np.testing.assert_array_equal(same.centroids(), index.centroids())
    with pytest.raises(ValueError, match="n_iter must be >= 0"):
        index.kmeans_params = knnx.KMeansParams(n_iter=-1)


def test_verbose_train_and_add_report_progress(rng, monkeypatch, capsys):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)  # stderr lines, not tqdm
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    xb = rng.standard_normal((900, 8)).astype(np.float32)
    index = knnx.IndexIVFFlat(8, 4)
    index.train(xb, verbose=True)
    index.add(xb, verbose=True, chunk_size=200)
    err = capsys.readouterr().err
    assert "knnx train (k-means): 10/10 iter" in err and "objective=" in err
    assert "knnx add: 900/900 vec" in err
    assert index.ntotal == 900
    assert index.kmeans_params.progress is None  # the report was installed only for the call
    plain = knnx.IndexIVFFlat(8, 4)
    plain.train(xb)
    np.testing.assert_array_equal(plain.centroids(), index.centroids())


def test_failed_verbose_add_rolls_back(rng, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "tqdm", None)
    monkeypatch.setitem(__import__("sys").modules, "tqdm.auto", None)
    xb = rng.standard_normal((100, 4)).astype(np.float32)
    index = trained_ivf(xb, 4)
    index.add(xb[:10])
    bad = xb.copy()
    bad[75, 1] = np.nan
    with pytest.raises(ValueError, match=r"rows 60:90 of x"):
        index.add(bad, verbose=True, chunk_size=30)
    assert index.ntotal == 10
    index.add(xb[:1])
    assert index.ntotal == 11


def test_progress_exception_stops_training(rng):
    xb = rng.standard_normal((500, 4)).astype(np.float32)
    index = knnx.IndexIVFFlat(4, 8)

    def stop(it, obj, sec):
        if it == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        index._train_with_progress(xb, stop)
    assert not index.is_trained
    assert index.kmeans_params.progress is None


def test_bad_input_raises_with_the_library_message(rng):
    with pytest.raises(ValueError, match="n_lists must be in"):
        knnx.IndexIVFFlat(8, 0)
    with pytest.raises(ValueError, match="d must be in"):
        knnx.IndexIVFFlat(0, 4)
    with pytest.raises(ValueError, match="metric"):
        knnx.IndexIVFFlat(8, 4, metric="cosine")
    with pytest.raises(ValueError, match="device"):
        knnx.IndexIVFFlat(8, 4, device="gpu7")
    index = knnx.IndexIVFFlat(8, 4)
    x = rng.standard_normal((100, 8)).astype(np.float32)
    with pytest.raises(ValueError, match="train"):
        index.add(x)  # before training
    with pytest.raises(ValueError, match="train"):
        index.search(x[:2], 1)
    with pytest.raises(ValueError, match="n must be >= n_lists"):
        index.train(x[:3])
    with pytest.raises(ValueError, match=r"x has 7 columns \(shape \(100, 7\)\), expected d = 8"):
        index.train(x[:, :7])
    with pytest.raises(ValueError, match="dtype"):
        index.train(x.astype(np.complex64))
    with pytest.raises(ValueError, match="3-D"):
        index.train(x.reshape(10, 10, 8))
    nan = x.copy()
    nan[4, 5] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        index.train(nan)
    index.train(x[:, ::1].copy(order="F")[:, :])  # Fortran order is converted
    strided = np.zeros((100, 16), np.float32)
    strided[:, ::2] = x
    index.add(strided[:, ::2])  # a non-contiguous view is converted once
    np.testing.assert_array_equal(index.reconstruct(3), x[3])
    with pytest.raises(ValueError, match="non-finite"):
        index.add(nan)
    with pytest.raises(ValueError, match="non-finite"):
        index.search(nan, 2)
    for k in (0, -3, knnx.MAX_K + 1, 2**40):
        with pytest.raises(ValueError, match="k must be in"):
            index.search(x[:2], k)
    with pytest.raises(ValueError, match="already"):
        index.add_with_ids(x[:2], [1, 500])
    with pytest.raises(ValueError, match="ids has 3 entries but x has 2"):
        index.add_with_ids(x[:2], [600, 601, 602])
    with pytest.raises(ValueError, match="list must be in"):
        index.list_ids(4)
    with pytest.raises(ValueError, match="not stored"):
        index.reconstruct(10_000)
    with pytest.raises(ValueError, match="train needs an empty index"):
        index.train(x)
    assert index.ntotal == 100


gpu = pytest.mark.gpu


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_cuda_ivf_matches_cpu(rng, metric):
    xb = knnx.make_mixture_base(20_000, 64, n_clusters=100, seed=5)
    xq = knnx.make_mixture_queries(200, 64, n_clusters=100, seed=5)
    cpu = knnx.IndexIVFFlat(64, 50, metric)
    cpu.train(xb)
    gpu_index = knnx.IndexIVFFlat(64, 50, metric, device="cuda")
    assert gpu_index.device == "cuda:0"
    gpu_index.set_centroids(cpu.centroids())  # the same lists on both
    cpu.add(xb)
    gpu_index.add(xb)
    np.testing.assert_array_equal(gpu_index.list_sizes(), cpu.list_sizes())
    for n_probe in (1, 8, 50):
        cpu.n_probe = gpu_index.n_probe = n_probe
        D_cpu, I_cpu = cpu.search(xq, 10)
        D, I = gpu_index.search(xq, 10)
        np.testing.assert_allclose(D, D_cpu, rtol=1e-4, atol=1e-3)
        assert (I != I_cpu).mean() < 0.01
    D, I = gpu_index.search(xq[:20], 10)
    assert_knn_equal(D, I, xb, xq[:20], 10, metric)


@gpu
def test_cuda_ivf_trains_and_takes_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA device")
    xb = knnx.make_mixture_base(10_000, 32, n_clusters=50, seed=6)
    xq = knnx.make_mixture_queries(50, 32, n_clusters=50, seed=6)
    index = knnx.IndexIVFFlat(32, 32, device="cuda")
    index.train(torch.from_numpy(xb).cuda())  # copied to the host for k-means
    assert index.is_trained
    index.add(torch.from_numpy(xb).cuda(), verbose=True, chunk_size=3000)
    index.n_probe = 32
    D, I = index.search(torch.from_numpy(xq).cuda(), 10)
    assert isinstance(I, torch.Tensor) and I.device.type == "cuda"
    assert_knn_equal(D.cpu().numpy(), I.cpu().numpy(), xb, xq, 10, "l2")
