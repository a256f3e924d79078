"""The interface every system's adapter implements, and the errors it raises."""
from __future__ import annotations

import os
import tempfile
from typing import Callable


class Unavailable(Exception):
    """The system cannot run here (module not installed, no GPU, unsupported index)."""


class Adapter:
    """One index of one system.

    The runner calls, in order: build(xb) (train and add; the adapter reports the split in
    self.build_times), index_bytes(), then for each params dict of the sweep set_params(**params)
    and search(xq, k) -> (distances (nq, k) float32, labels (nq, k) int64) as many times as the
    repeat rule asks. search() takes and returns host (NumPy) arrays and finishes all device
    work before it returns, so its wall time is what a caller waits for.
    """

    system = "?"
    algorithm = "?"        # "Flat", "IVF-Flat", "HNSW"
    sweep_param = None     # "n_probe", "ef" or None (one point)

    def __init__(self, d: int, metric: str, build_params: dict, threads: int):
        self.d = d
        self.metric = metric
        self.build_params = dict(build_params)
        self.threads = threads
        self.build_times: dict = {}

    def spec(self) -> str:
        return self.algorithm

    def build(self, xb) -> None:
        raise NotImplementedError

    def set_params(self, **params) -> None:
        if params:
            raise ValueError(f"{self.system} {self.spec()} takes no search parameters: {params}")

    def search(self, xq, k: int):
        raise NotImplementedError

    def index_bytes(self) -> tuple[int | None, str]:
        """(bytes, how they were counted)."""
        return None, "not measured"

    def close(self) -> None:
        pass


def serialized_size(write: Callable[[str], None]) -> int:
    """Bytes of the file write(path) produces (removed afterwards)."""
    fd, path = tempfile.mkstemp(suffix=".index")
    os.close(fd)
    try:
        write(path)
        return os.path.getsize(path)
    finally:
        os.unlink(path)
