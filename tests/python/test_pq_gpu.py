"""IndexPQ and IndexIVFPQ on a CUDA device give the CPU index's results: the same index moved to
the GPU through an index file (so both hold the same quantizer and codes), searched with and
without filters, after remove_ids and after an add; and an index trained and filled on the GPU
from PyTorch tensors, searched with tensors in and out.

Every test here is marked gpu: it runs only where a CUDA device is present.
"""

import numpy as np
import pytest

import knnx
from quantized_gpu import D, assert_same, clustered

gpu = pytest.mark.gpu

@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("factory", ["PQ8", "IVF16,PQ8", "IVF16,PQ16"])
def test_gpu_index_matches_cpu(tmp_path, rng, metric, factory):
    xb, xq = clustered(rng, 4000, 30)
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
        assert_same(gpu_index.search(xq, k, params=params()), cpu.search(xq, k, params=params()))
    # FAISS's spelling of the same move.
    copied = knnx.index_cpu_to_gpu(knnx.StandardGpuResources(), 0, cpu)
    assert copied.device == "cuda:0"
    assert_same(copied.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))
    sel = knnx.IDSelectorRange(500, 2500)
    got = gpu_index.search(xq, 10, params=params(sel=sel))
    assert_same(got, cpu.search(xq, 10, params=params(sel=sel)))
    assert ((got[1] >= 500) & (got[1] < 2500)).all()

    assert gpu_index.remove_ids(np.arange(0, 1000)) == cpu.remove_ids(np.arange(0, 1000)) == 1000
    gpu_index.add(xq)
    cpu.add(xq)
    assert gpu_index.ntotal == cpu.ntotal
    assert_same(gpu_index.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))

    knnx.write_index(gpu_index, tmp_path / "gpu.knnx")
    back = knnx.read_index(tmp_path / "gpu.knnx")
    assert back.device == "cpu"
    assert_same(back.search(xq, 10, params=params()), cpu.search(xq, 10, params=params()))


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
