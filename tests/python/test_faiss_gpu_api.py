"""FAISS's GPU entry points (StandardGpuResources, index_cpu_to_gpu, index_gpu_to_cpu,
index_cpu_to_all_gpus, get_num_gpus): the copies search as faiss-cpu does on the same data, the
originals stay where they were, and a machine or build without a GPU gets a knnx error saying so.
"""

import numpy as np
import pytest

import knnx

faiss = pytest.importorskip("faiss")

D, NB, NQ, K = 16, 3000, 25, 10


@pytest.fixture
def data(rng):
    return (rng.standard_normal((NB, D)).astype(np.float32),
            rng.standard_normal((NQ, D)).astype(np.float32))


def test_gpu_count_and_resources():
    assert knnx.get_num_gpus() == knnx.cuda_device_count()
    res = knnx.StandardGpuResources()
    before = knnx.config()["gpu_workspace_mb"]
    try:
        res.setTempMemory(300 << 20)
        assert knnx.config()["gpu_workspace_mb"] == 300
        res.noTempMemory()
        assert knnx.config()["gpu_workspace_mb"] == 16
        res.setTempMemory(0)
        assert knnx.config()["gpu_workspace_mb"] == 16
        with pytest.raises(ValueError):
            res.setTempMemory(-1)
    finally:
        knnx.set_config(gpu_workspace_mb=before)
    with pytest.raises(TypeError, match="StandardGpuResources"):
        knnx.index_cpu_to_gpu(object(), 0, knnx.IndexFlatL2(D))
    with pytest.raises(ValueError, match="GPU number"):
        knnx.index_cpu_to_gpu(res, -1, knnx.IndexFlatL2(D))


def test_without_a_gpu_the_copy_is_refused_with_a_knnx_error(data):
    if knnx.cuda_device_count() > 0:
        pytest.skip("a GPU is visible")
    index = knnx.IndexFlatL2(D)
    index.add(data[0])
    with pytest.raises(knnx.Error, match="cpu"):
        knnx.index_cpu_to_gpu(knnx.StandardGpuResources(), 0, index)
    assert index.ntotal == NB


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["Flat", "IVF32,Flat"])
def test_copies_search_as_faiss_cpu(data, spec):
    xb, xq = data
    ref = faiss.index_factory(D, spec)
    ref.train(xb)
    ref.add(xb)
    cpu = knnx.deserialize_index(faiss.serialize_index(ref))  # FAISS's bytes, read by knnx
    if spec != "Flat":
        ref.nprobe = cpu.nprobe = 32
    gpu = knnx.index_cpu_to_gpu(knnx.StandardGpuResources(), 0, cpu)
    assert str(gpu.device) == "cuda:0" and str(cpu.device) == "cpu"
    expected_d, expected_i = ref.search(xq, K)
    for index in (gpu, knnx.index_cpu_to_all_gpus(cpu), knnx.index_gpu_to_cpu(gpu)):
        got_d, got_i = index.search(xq, K)
        np.testing.assert_allclose(got_d, expected_d, rtol=1e-4, atol=1e-3)
        assert (got_i == expected_i).mean() > 0.99
    assert str(knnx.index_gpu_to_cpu(gpu).device) == "cpu"
