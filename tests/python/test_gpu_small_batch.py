"""GPU searches of one query and of small batches (the latency paths: scans that merge their own
partial results, host-side query checks, the coarse search over many small parts) give the CPU
index's results, from Python as a user calls them: IndexIVFFlat with one list holding most
vectors, at nprobe 1 and a few, with and without a filter, and IndexFlat at nq 1 and 16.
"""

import numpy as np
import pytest

import knnx

gpu = pytest.mark.gpu


def assert_same(D, I, D_ref, I_ref, rtol=1e-4):
    """The same neighbours up to float32 rounding; labels may swap only where distances tie."""
    np.testing.assert_allclose(D, D_ref, rtol=rtol, atol=rtol)
    for row in range(I.shape[0]):
        for j in np.nonzero(I[row] != I_ref[row])[0]:
            tied = np.isclose(D_ref[row], D_ref[row, j], rtol=rtol, atol=rtol).sum() > 1
            assert tied, f"query {row} slot {j}: {I[row, j]} != {I_ref[row, j]}"


def skewed(rng, d=32, n=8000, n_lists=16, hub=7000):
    """Centroids, base and queries where list 0 (the centre) holds ~hub of the n vectors."""
    centroids = np.zeros((n_lists, d), dtype=np.float32)
    centroids[1:] = 6.0 * rng.standard_normal((n_lists - 1, d))
    owner = np.where(np.arange(n) < hub, 0, 1 + np.arange(n) % (n_lists - 1))
    base = (centroids[owner] + rng.standard_normal((n, d))).astype(np.float32)
    q_owner = np.where(np.arange(16) % 2 == 0, 0, 1 + np.arange(16) % (n_lists - 1))
    queries = (centroids[q_owner] + rng.standard_normal((16, d))).astype(np.float32)
    return centroids, base, queries


def ivf_pair(centroids, base):
    d, n_lists = centroids.shape[1], centroids.shape[0]
    pair = []
    for device in ("cpu", "cuda"):
        index = knnx.IndexIVFFlat(d, n_lists, "l2", device=device)
        index.set_centroids(centroids)
        index.add(base)
        pair.append(index)
    return pair


@gpu
@pytest.mark.parametrize("nq", [1, 2, 16])
@pytest.mark.parametrize("nprobe", [1, 3, 8])
@pytest.mark.parametrize("k", [1, 10, 100])
def test_ivf_small_batches_skewed_lists_match_cpu(rng, nq, nprobe, k):
    centroids, base, queries = skewed(rng)
    cpu, gpu_index = ivf_pair(centroids, base)
    assert np.asarray(gpu_index.list_sizes())[0] > 6000
    params = knnx.SearchParametersIVF(nprobe=nprobe)
    D_cpu, I_cpu = cpu.search(queries[:nq], k, params=params)
    D, I = gpu_index.search(queries[:nq], k, params=params)
    assert_same(D, I, D_cpu, I_cpu)


@gpu
@pytest.mark.parametrize("nq", [1, 16])
def test_ivf_small_batches_filtered_match_cpu(rng, nq):
    centroids, base, queries = skewed(rng)
    cpu, gpu_index = ivf_pair(centroids, base)
    params = knnx.SearchParametersIVF(nprobe=2)
    params.sel = knnx.IDSelectorRange(1000, 7500)
    D_cpu, I_cpu = cpu.search(queries[:nq], 10, params=params)
    D, I = gpu_index.search(queries[:nq], 10, params=params)
    assert_same(D, I, D_cpu, I_cpu)
    assert np.all((I == -1) | ((I >= 1000) & (I < 7500)))


@gpu
def test_ivf_one_query_with_nan_is_refused(rng):
    centroids, base, queries = skewed(rng)
    _, gpu_index = ivf_pair(centroids, base)
    bad = queries[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(ValueError):
        gpu_index.search(bad, 10)


@gpu
@pytest.mark.parametrize("n", [300, 4096, 200_000])
@pytest.mark.parametrize("nq", [1, 16])
def test_flat_small_batches_match_cpu(rng, n, nq):
    d = 48
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    cpu = knnx.IndexFlat(d, "l2", device="cpu")
    gpu_index = knnx.IndexFlat(d, "l2", device="cuda")
    cpu.add(xb)
    gpu_index.add(xb)
    for k in (1, 10, 200):
        D_cpu, I_cpu = cpu.search(xq, k)
        D, I = gpu_index.search(xq, k)
        assert_same(D, I, D_cpu, I_cpu)
