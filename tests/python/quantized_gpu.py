"""Helpers of the GPU tests of the quantized indexes (test_pq_gpu.py, test_sq_gpu.py)."""

import numpy as np

D = 32


def clustered(rng, n, nq):
    centres = 4.0 * rng.standard_normal((40, D))
    xb = centres[rng.integers(0, 40, n)] + rng.standard_normal((n, D))
    xq = centres[rng.integers(0, 40, nq)] + rng.standard_normal((nq, D))
    return xb.astype(np.float32), xq.astype(np.float32)


def assert_same(got, want, rtol=1e-4):
    """The same neighbours up to float32 rounding; labels may swap only where distances tie."""
    (D_gpu, I_gpu), (D_cpu, I_cpu) = got, want
    np.testing.assert_allclose(D_gpu, D_cpu, rtol=rtol, atol=rtol)
    differ = I_gpu != I_cpu
    assert differ.mean() < 0.01, f"{differ.sum()} of {I_gpu.size} labels differ"
