"""Per-call search parameters (knnx.SearchParameters / SearchParametersIVF, FAISS's names):
they apply to one call only, so threads may search one index with different values at once."""

import threading

import numpy as np
import pytest

import knnx

D, NB, NQ, K, NLIST = 16, 4000, 64, 10, 64


@pytest.fixture
def ivf(rng):
    xb = rng.standard_normal((NB, D)).astype(np.float32)
    index = knnx.IndexIVFFlat(D, NLIST)
    index.train(xb)
    index.add(xb)
    return index


def test_params_apply_to_one_call(ivf, rng):
    xq = rng.standard_normal((NQ, D)).astype(np.float32)
    ivf.n_probe = 8
    expected = ivf.search(xq, K)
    ivf.n_probe = 1
    D8, I8 = ivf.search(xq, K, params=knnx.SearchParametersIVF(nprobe=8))
    np.testing.assert_array_equal(I8, expected[1])
    np.testing.assert_array_equal(D8, expected[0])
    assert ivf.n_probe == 1  # the index is not modified
    # Clamped above nlist, as set_n_probe and FAISS do; no field set: the index's own settings.
    ivf.n_probe = NLIST
    exact = ivf.search(xq, K)
    np.testing.assert_array_equal(
        ivf.search(xq, K, params=knnx.SearchParametersIVF(nprobe=10 * NLIST))[1], exact[1])
    np.testing.assert_array_equal(ivf.search(xq, K, params=knnx.SearchParametersIVF())[1],
                                  exact[1])


def test_two_threads_two_nprobe_values_one_index(ivf, rng):
    queries = rng.standard_normal((NQ, D)).astype(np.float32)
    expected = {}
    for nprobe in (1, 16):
        ivf.n_probe = nprobe
        expected[nprobe] = ivf.search(queries, K)
    ivf.n_probe = 4
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def work(nprobe):
        try:
            params = knnx.SearchParametersIVF(nprobe=nprobe)
            barrier.wait()
            results[nprobe] = [ivf.search(queries, K, params=params) for _ in range(20)]
        except Exception as e:  # reported below, with the thread's nprobe
            errors.append((nprobe, e))

    threads = [threading.Thread(target=work, args=(nprobe,)) for nprobe in (1, 16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for nprobe in (1, 16):
        for Dr, Ir in results[nprobe]:
            np.testing.assert_array_equal(Ir, expected[nprobe][1])
            np.testing.assert_array_equal(Dr, expected[nprobe][0])
    assert ivf.n_probe == 4


def test_params_are_checked(ivf, rng):
    xq = rng.standard_normal((2, D)).astype(np.float32)
    with pytest.raises(ValueError, match="nprobe"):
        ivf.search(xq, K, params=knnx.SearchParametersIVF(nprobe=0))
    flat = knnx.IndexFlatL2(D)
    flat.add(xq)
    with pytest.raises(ValueError):
        flat.search(xq, 1, params=knnx.SearchParametersIVF(nprobe=4))  # not an IVF index
    flat.search(xq, 1, params=knnx.SearchParameters(cpu_query_block=64))
    with pytest.raises(AttributeError, match="did you mean 'nprobe'"):
        knnx.SearchParametersIVF(nprob=4)
    with pytest.raises(TypeError):
        ivf.search(xq, K, params="nprobe=4")
    p = knnx.SearchParametersIVF(nprobe=3)
    assert p.nprobe == 3 and p.scan_fused is None
    p.nprobe = None
    assert p.nprobe is None


def test_pretransform_passes_params_on(rng):
    xb = rng.standard_normal((2000, D)).astype(np.float32)
    xq = rng.standard_normal((8, D)).astype(np.float32)
    index = knnx.index_factory(D, "PCA8,IVF16,Flat")
    index.train(xb)
    index.add(xb)
    index.nprobe = 16
    exact = index.search(xq, K)
    index.nprobe = 1
    np.testing.assert_array_equal(
        index.search(xq, K, params=knnx.SearchParametersIVF(nprobe=16))[1], exact[1])


def test_same_as_faiss_params(ivf, rng):
    faiss = pytest.importorskip("faiss")
    xq = rng.standard_normal((NQ, D)).astype(np.float32)
    ref = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST)
    ref.train(ivf.centroids())  # NLIST rows: FAISS's k-means keeps them as its centroids
    quantizer = knnx.IndexFlatL2(D)
    quantizer.add(ref.quantizer.reconstruct_n(0, NLIST))
    index = knnx.IndexIVFFlat(quantizer, D, NLIST)
    xb = rng.standard_normal((NB, D)).astype(np.float32)
    ref.add(xb)
    index.add(xb)
    for nprobe in (2, 8):
        Df, If = ref.search(xq, K, params=faiss.SearchParametersIVF(nprobe=nprobe))
        Dk, Ik = index.search(xq, K, params=knnx.SearchParametersIVF(nprobe=nprobe))
        np.testing.assert_allclose(Dk, Df, rtol=1e-5, atol=1e-4)
        for a, b in zip(Ik, If):
            assert set(a) == set(b)


@pytest.mark.gpu
def test_params_on_a_gpu_index(rng):
    xb = rng.standard_normal((NB, D)).astype(np.float32)
    xq = rng.standard_normal((NQ, D)).astype(np.float32)
    index = knnx.IndexIVFFlat(D, NLIST, device="cuda")
    index.train(xb)
    index.add(xb)
    index.n_probe = 8
    expected = index.search(xq, K)
    index.n_probe = 1
    params = knnx.SearchParametersIVF(nprobe=8)
    np.testing.assert_array_equal(index.search(xq, K, params=params)[1], expected[1])
    torch = pytest.importorskip("torch")
    D_dev, I_dev = index.search(torch.from_numpy(xq).cuda(), K, params=params)  # device path
    np.testing.assert_array_equal(I_dev.cpu().numpy(), expected[1])
    assert index.n_probe == 1
