"""hnswlib: HNSW graph index (squared L2 or inner product)."""
from __future__ import annotations

import time

import numpy as np

from .base import Adapter, Unavailable, serialized_size


class HnswlibHNSW(Adapter):
    system = "hnswlib"
    algorithm = "HNSW"
    sweep_param = "ef"

    def __init__(self, d, metric, build_params, threads):
        super().__init__(d, metric, build_params, threads)
        try:
            import hnswlib
        except ImportError as e:
            raise Unavailable(f"hnswlib not installed ({e}); pip install hnswlib") from e
        self.hnswlib = hnswlib
        self.m = int(build_params.get("M", 16))
        self.ef_construction = int(build_params.get("ef_construction", 200))
        self.index = None
        self.ef = 10

    def spec(self):
        return f"HNSW{self.m} (ef_construction {self.ef_construction})"

    def build(self, xb):
        self.index = self.hnswlib.Index(space="l2" if self.metric == "l2" else "ip", dim=self.d)
        t0 = time.perf_counter()
        self.index.init_index(max_elements=xb.shape[0], ef_construction=self.ef_construction,
                              M=self.m, random_seed=100)
        self.index.add_items(xb, np.arange(xb.shape[0]), num_threads=max(self.threads, 1))
        self.build_times = {"train_s": 0.0, "add_s": time.perf_counter() - t0}

    def set_params(self, ef):
        self.ef = int(ef)
        self.index.set_ef(self.ef)

    def search(self, xq, k):
        if self.ef < k:
            raise ValueError(f"hnswlib needs ef >= k (ef {self.ef}, k {k})")
        labels, distances = self.index.knn_query(xq, k=k, num_threads=max(self.threads, 1))
        if self.metric == "ip":
            distances = 1.0 - distances  # hnswlib's "ip" space returns 1 - <x, y>
        return distances.astype(np.float32), labels.astype(np.int64)

    def index_bytes(self):
        return serialized_size(self.index.save_index), "hnswlib save_index file"
