"""Helpers of the GPU tests of the quantized indexes (test_pq_gpu.py, test_sq_gpu.py)."""

import functools

import numpy as np

import knnx

D = 32


def clustered(rng, n, nq):
    centres = 4.0 * rng.standard_normal((40, D))
    xb = centres[rng.integers(0, 40, n)] + rng.standard_normal((n, D))
    xq = centres[rng.integers(0, 40, nq)] + rng.standard_normal((nq, D))
    return xb.astype(np.float32), xq.astype(np.float32)


def assert_same(got, want, rtol=1e-4, norm_scale=0.0):
    """The same neighbours up to float32 rounding; labels may swap only where distances tie.

    An L2 distance computed as a sum of terms (||r||^2 + ||y||^2 + 2 <c, y> - 2 <q, y>, as the
    quantized indexes do) carries an absolute rounding error of a few float32 ulps of the
    largest term, not of the distance: norm_scale (the data's largest squared norm) sets that
    floor, so a near-zero distance (a query that is also stored) is held to it."""
    (D_gpu, I_gpu), (D_cpu, I_cpu) = got, want
    atol = max(rtol, 8 * np.finfo(np.float32).eps * norm_scale)
    np.testing.assert_allclose(D_gpu, D_cpu, rtol=rtol, atol=atol)
    differ = I_gpu != I_cpu
    assert differ.mean() < 0.01, f"{differ.sum()} of {I_gpu.size} labels differ"


def check_gpu_matches_cpu(tmp_path, rng, metric, factory, compare_more=None):
    """Builds `factory` on the CPU, moves it to GPU 0 through an index file (and through
    index_cpu_to_gpu) and compares the two: searches for several k, a filter, then remove_ids,
    an add and a file written on the GPU read back on the CPU. compare_more(gpu_index, cpu, xq,
    params) adds comparisons before the indexes change; params(**kw) gives the search params."""
    xb, xq = clustered(rng, 4000, 30)
    norm_scale = float(max((xb.astype(np.float64) ** 2).sum(1).max(),
                           (xq.astype(np.float64) ** 2).sum(1).max()))
    same = functools.partial(assert_same, norm_scale=norm_scale)

    cpu = knnx.index_factory(D, factory, metric)
    cpu.train(xb)
    cpu.add(xb)
    knnx.write_index(cpu, tmp_path / "cpu.knnx")
    gpu_index = knnx.read_index(tmp_path / "cpu.knnx", device="cuda")
    assert gpu_index.device == "cuda:0"
    assert type(gpu_index) is type(cpu)
    ivf = factory.startswith("IVF")

    def params(**kw):
        return knnx.SearchParametersIVF(nprobe=5, **kw) if ivf else knnx.SearchParameters(**kw)

    for k in (1, 10, 100):
        same(gpu_index.search(xq, k, params=params()), cpu.search(xq, k, params=params()))
    # FAISS's spelling of the same move.
    copied = knnx.index_cpu_to_gpu(knnx.StandardGpuResources(), 0, cpu)
    assert copied.device == "cuda:0"
    same(copied.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))
    sel = knnx.IDSelectorRange(500, 2500)
    got = gpu_index.search(xq, 10, params=params(sel=sel))
    same(got, cpu.search(xq, 10, params=params(sel=sel)))
    assert ((got[1] >= 500) & (got[1] < 2500)).all()
    if compare_more is not None:
        compare_more(gpu_index, cpu, xq, params)

    assert gpu_index.remove_ids(np.arange(0, 1000)) == cpu.remove_ids(np.arange(0, 1000)) == 1000
    gpu_index.add(xq)
    cpu.add(xq)
    assert gpu_index.ntotal == cpu.ntotal
    same(gpu_index.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))

    knnx.write_index(gpu_index, tmp_path / "gpu.knnx")
    back = knnx.read_index(tmp_path / "gpu.knnx")
    assert back.device == "cpu"
    same(back.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))
