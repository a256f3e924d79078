"""knnx through its Python module: IndexFlat and IndexIVFFlat, on the CPU or a CUDA device."""
from __future__ import annotations

import time

import numpy as np

from .base import Adapter, Unavailable


def _module():
    try:
        import knnx
    except ImportError as e:
        raise Unavailable(f"Python module knnx not importable ({e}); build with "
                          "-DKNNX_BUILD_PYTHON=ON and pass --knnx-python BUILD/python") from e
    return knnx


def _device(knnx, device: str) -> str:
    if device == "cpu":
        return "cpu"
    if not knnx.cuda_backend_compiled():
        raise Unavailable("knnx was built without the CUDA backend")
    if knnx.cuda_device_count() < 1:
        raise Unavailable("no CUDA device")
    return device


class KnnxFlat(Adapter):
    algorithm = "Flat"

    def __init__(self, d, metric, build_params, threads, device="cpu"):
        super().__init__(d, metric, build_params, threads)
        self.knnx = _module()
        self.device = _device(self.knnx, device)
        self.system = "knnx-cpu" if self.device == "cpu" else "knnx-gpu"
        self.index = None
        self.n = 0

    def build(self, xb):
        self.index = self.knnx.IndexFlat(self.d, metric=self.metric, device=self.device)
        t0 = time.perf_counter()
        self.index.add(xb)
        self.build_times = {"train_s": 0.0, "add_s": time.perf_counter() - t0}
        self.n = xb.shape[0]

    def search(self, xq, k):
        return self.index.search(xq, k)

    def index_bytes(self):
        return self.n * (self.d * 4 + 8), "payload: vectors (float32) + ids (int64)"


class KnnxIVFFlat(Adapter):
    algorithm = "IVF-Flat"
    sweep_param = "n_probe"

    def __init__(self, d, metric, build_params, threads, device="cpu"):
        super().__init__(d, metric, build_params, threads)
        self.knnx = _module()
        if not hasattr(self.knnx, "IndexIVFFlat"):
            raise Unavailable(f"this knnx module ({self.knnx.__version__}) has no IndexIVFFlat binding")
        self.device = _device(self.knnx, device)
        self.system = "knnx-cpu" if self.device == "cpu" else "knnx-gpu"
        self.n_lists = int(build_params["n_lists"])
        self.index = None
        self.n = 0

    def spec(self):
        return f"IVF{self.n_lists},Flat"

    def build(self, xb):
        self.index = self.knnx.IndexIVFFlat(self.d, self.n_lists, metric=self.metric,
                                            device=self.device)
        t0 = time.perf_counter()
        self.index.train(xb)
        t1 = time.perf_counter()
        self.index.add(xb)
        t2 = time.perf_counter()
        self.build_times = {"train_s": t1 - t0, "add_s": t2 - t1}
        self.n = xb.shape[0]
        imbalance = getattr(self.index, "imbalance_factor", None)
        if imbalance is not None:
            self.build_times["imbalance_factor"] = float(imbalance() if callable(imbalance) else imbalance)

    def set_params(self, n_probe):
        if hasattr(self.index, "set_n_probe"):
            self.index.set_n_probe(int(n_probe))
        else:
            self.index.n_probe = int(n_probe)

    def search(self, xq, k):
        return self.index.search(xq, k)

    def index_bytes(self):
        return (self.n * (self.d * 4 + 8) + self.n_lists * self.d * 4,
                "payload: list vectors (float32) + ids (int64) + centroids")
