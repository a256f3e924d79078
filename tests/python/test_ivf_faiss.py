"""knnx.IndexIVFFlat reaches FAISS's IndexIVFFlat recall at the same n_lists and n_probe."""

import numpy as np
import pytest

import knnx
from knn_reference import brute_force

faiss = pytest.importorskip("faiss")


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n_lists,n_probe", [(64, 1), (64, 4), (128, 8)])
def test_recall_within_001_of_faiss(seed, metric, n_lists, n_probe):
    d, n, nq, k = 32, 20_000, 300, 10
    xb = knnx.make_mixture_base(n, d, n_clusters=200, seed=seed)
    xq = knnx.make_mixture_queries(nq, d, n_clusters=200, seed=seed)
    _, I_true = brute_force(xb, xq, k, metric)

    index = knnx.IndexIVFFlat(d, n_lists, metric)
    index.train(xb)
    index.add(xb)
    index.n_probe = n_probe
    recall = knnx.recall_at_k(index.search(xq, k)[1], I_true, k)

    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    quantizer = faiss.IndexFlat(d, faiss_metric)
    ref = faiss.IndexIVFFlat(quantizer, d, n_lists, faiss_metric)
    ref.train(xb)
    ref.add(xb)
    ref.nprobe = n_probe
    ref_recall = knnx.recall_at_k(ref.search(xq, k)[1], I_true, k)
    assert recall >= ref_recall - 0.01, (recall, ref_recall)
