"""faiss-cpu: IndexFlat, IndexIVFFlat and IndexHNSWFlat."""
from __future__ import annotations

import time

import numpy as np

from .base import Adapter, Unavailable


def _module(threads):
    try:
        import faiss
    except ImportError as e:
        raise Unavailable(f"faiss not installed ({e}); pip install faiss-cpu") from e
    if threads > 0:
        faiss.omp_set_num_threads(threads)
    return faiss


def _metric(faiss, metric):
    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


class _FaissBase(Adapter):
    system = "faiss-cpu"

    def __init__(self, d, metric, build_params, threads):
        super().__init__(d, metric, build_params, threads)
        self.faiss = _module(threads)
        self.index = None

    def search(self, xq, k):
        return self.index.search(np.ascontiguousarray(xq, dtype=np.float32), k)

    def index_bytes(self):
        return int(self.faiss.serialize_index(self.index).nbytes), "faiss.serialize_index"


class FaissFlat(_FaissBase):
    algorithm = "Flat"

    def build(self, xb):
        self.index = (self.faiss.IndexFlatL2(self.d) if self.metric == "l2"
                      else self.faiss.IndexFlatIP(self.d))
        t0 = time.perf_counter()
        self.index.add(xb)
        self.build_times = {"train_s": 0.0, "add_s": time.perf_counter() - t0}


class FaissIVFFlat(_FaissBase):
    algorithm = "IVF-Flat"
    sweep_param = "n_probe"

    def __init__(self, d, metric, build_params, threads):
        super().__init__(d, metric, build_params, threads)
        self.n_lists = int(build_params["n_lists"])

    def spec(self):
        return f"IVF{self.n_lists},Flat"

    def build(self, xb):
        quantizer = (self.faiss.IndexFlatL2(self.d) if self.metric == "l2"
                     else self.faiss.IndexFlatIP(self.d))
        self.index = self.faiss.IndexIVFFlat(quantizer, self.d, self.n_lists,
                                             _metric(self.faiss, self.metric))
        self._quantizer = quantizer
        t0 = time.perf_counter()
        self.index.train(xb)
        t1 = time.perf_counter()
        self.index.add(xb)
        t2 = time.perf_counter()
        self.build_times = {"train_s": t1 - t0, "add_s": t2 - t1,
                            "imbalance_factor": float(self.index.invlists.imbalance_factor())}

    def set_params(self, n_probe):
        self.index.nprobe = int(n_probe)


class FaissHNSW(_FaissBase):
    algorithm = "HNSW"
    sweep_param = "ef"

    def __init__(self, d, metric, build_params, threads):
        super().__init__(d, metric, build_params, threads)
        self.m = int(build_params.get("M", 16))
        self.ef_construction = int(build_params.get("ef_construction", 200))

    def spec(self):
        return f"HNSW{self.m},Flat (efConstruction {self.ef_construction})"

    def build(self, xb):
        self.index = self.faiss.IndexHNSWFlat(self.d, self.m, _metric(self.faiss, self.metric))
        self.index.hnsw.efConstruction = self.ef_construction
        t0 = time.perf_counter()
        self.index.add(xb)
        self.build_times = {"train_s": 0.0, "add_s": time.perf_counter() - t0}

    def set_params(self, ef):
        self.index.hnsw.efSearch = int(ef)
