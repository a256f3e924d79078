"""IndexScalarQuantizer and IndexIVFScalarQuantizer on a CUDA device give the CPU index's results:
the same index moved to the GPU through an index file (so both hold the same quantizer and
codes), searched and range-searched with and without filters, after remove_ids and after an add;
and an index trained and filled on the GPU from PyTorch tensors, searched with tensors in and out.

Every test here is marked gpu: it runs only where a CUDA device is present.
"""

import numpy as np
import pytest

import knnx
from quantized_gpu import D, check_gpu_matches_cpu, clustered

gpu = pytest.mark.gpu


def range_hits(result, q, radius, rtol):
    """Query q's hits {label: distance}, leaving out those within rounding of the radius."""
    lims, dist, labels = result
    lo, hi = lims[q], lims[q + 1]
    return {int(i): float(d) for i, d in zip(labels[lo:hi], dist[lo:hi])
            if abs(d - radius) > rtol * max(1.0, abs(radius))}


def assert_same_range(got, want, radius, rtol=1e-4):
    """The same hits per query with the same distances up to float32 rounding."""
    assert len(got[0]) == len(want[0])
    for q in range(len(want[0]) - 1):
        hits_got, hits_want = range_hits(got, q, radius, rtol), range_hits(want, q, radius, rtol)
        assert hits_got.keys() == hits_want.keys(), f"query {q}"
        for i, d in hits_want.items():
            assert hits_got[i] == pytest.approx(d, rel=rtol, abs=rtol)


def compare_range_search(gpu_index, cpu, xq, params):
    """range_search with and without a filter, at a radius between the 50th and 51st distances
    of the first query."""
    d0 = cpu.search(xq[:1], 51, params=params())[0][0]
    radius = float((d0[49] + d0[50]) / 2)
    assert_same_range(gpu_index.range_search(xq, radius, params=params()),
                      cpu.range_search(xq, radius, params=params()), radius)
    sel = knnx.IDSelectorRange(500, 2500)
    assert_same_range(gpu_index.range_search(xq, radius, params=params(sel=sel)),
                      cpu.range_search(xq, radius, params=params(sel=sel)), radius)


@gpu
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("factory", ["SQ8", "SQ4", "SQfp16", "SQbf16", "IVF16,SQ8", "IVF16,SQ4",
                                     "IVF16,SQfp16"])
def test_gpu_index_matches_cpu(tmp_path, rng, metric, factory):
    check_gpu_matches_cpu(tmp_path, rng, metric, factory, compare_range_search)


@gpu
def test_gpu_ivf_sq_from_torch_tensors(rng):
    torch = pytest.importorskip("torch")
    xb, xq = clustered(rng, 4000, 30)
    index = knnx.IndexIVFScalarQuantizer(D, 16, knnx.ScalarQuantizer.QT_8bit, device="cuda")
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
