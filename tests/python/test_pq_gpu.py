"""IndexPQ and IndexIVFPQ on a CUDA device give the CPU index's results: the same index moved to
the GPU through an index file (so both hold the same quantizer and codes), searched with and
without filters, after remove_ids and after an add; and an index trained and filled on the GPU
from PyTorch tensors, searched with tensors in and out.

Every test here is marked gpu: it runs only where a CUDA device is present.
"""

import numpy as np
import pytest

import knnx
from quantized_gpu import D, assert_same, check_gpu_matches_cpu, clustered

gpu = pytest.mark.gpu


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("factory", ["PQ8", "IVF16,PQ8", "IVF16,PQ16", "IVF16,PQ32"])
def test_gpu_index_matches_cpu(tmp_path, rng, metric, factory):
    check_gpu_matches_cpu(tmp_path, rng, metric, factory)


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("factory", ["IVF16,PQ16", "IVF16,PQ32"])
@pytest.mark.parametrize("precomputed", [True, False])
def test_gpu_ivf_pq_many_queries_matches_cpu(tmp_path, rng, metric, factory, precomputed):
    # 1000 queries: a block scans several of its query's probed lists with one query table;
    # PQ32 keeps its L2 term in each row, PQ16 adds the per-list table list by list.
    xb, xq = clustered(rng, 4000, 1000)
    cpu = knnx.index_factory(D, factory, metric)
    cpu.train(xb)
    cpu.add(xb)
    cpu.use_precomputed_table = precomputed
    knnx.write_index(cpu, tmp_path / "cpu.knnx")
    gpu_index = knnx.read_index(tmp_path / "cpu.knnx", device="cuda")
    assert gpu_index.precomputed_table_in_use == (precomputed and metric == "l2")
    for nprobe in (1, 6, 16):
        params = knnx.SearchParametersIVF(nprobe=nprobe)
        for k in (10, 50):
            assert_same(gpu_index.search(xq, k, params=params), cpu.search(xq, k, params=params))


@gpu
def test_gpu_ivf_pq_from_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    xb, xq = clustered(rng, 4000, 30)
    index = knnx.IndexIVFPQ(D, 16, 8, device="cuda")
    index.train(torch.from_numpy(xb).cuda())
    index.add(torch.from_numpy(xb).cuda())
    assert index.ntotal == 4000
    params = knnx.SearchParametersIVF(nprobe=4)
    dist, labels = index.search(torch.from_numpy(xq).cuda(), 10, params=params)
    assert isinstance(dist, torch.Tensor) and dist.is_cuda and labels.is_cuda
    want_dist, want_labels = index.search(xq, 10, params=params)
    np.testing.assert_allclose(dist.cpu().numpy(), want_dist, rtol=1e-6)
    np.testing.assert_array_equal(labels.cpu().numpy(), want_labels)
    bad = torch.from_numpy(xq).cuda()
    bad[3, 5] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        index.search(bad, 10)
