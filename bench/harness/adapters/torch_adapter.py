"""PyTorch brute force on the GPU: x @ y.T (+ norms for L2) and topk, as a PyTorch user writes
it. Queries arrive as host arrays and results return to the host, as for the other systems."""
from __future__ import annotations

import time

from .base import Adapter, Unavailable


class TorchFlat(Adapter):
    system = "torch-gpu"
    algorithm = "Flat"

    def __init__(self, d, metric, build_params, threads, workspace_gb=4.0):
        super().__init__(d, metric, build_params, threads)
        try:
            import torch
        except ImportError as e:
            raise Unavailable(f"PyTorch not installed ({e})") from e
        if not torch.cuda.is_available():
            raise Unavailable("PyTorch sees no CUDA device")
        self.torch = torch
        torch.backends.cuda.matmul.allow_tf32 = False  # exact FP32, like the other systems
        self.workspace_gb = workspace_gb
        self.base = self.norms = None

    def spec(self):
        return "Flat (x @ y.T + topk, fp32)"

    def build(self, xb):
        torch = self.torch
        t0 = time.perf_counter()
        self.base = torch.from_numpy(xb).cuda()
        self.norms = (self.base * self.base).sum(1)
        torch.cuda.synchronize()
        self.build_times = {"train_s": 0.0, "add_s": time.perf_counter() - t0}

    def search(self, xq, k):
        torch = self.torch
        q_all = torch.from_numpy(xq).cuda()
        chunk = max(1, int(self.workspace_gb * 2**30 / (self.base.shape[0] * 4 * 2)))
        out_d, out_i = [], []
        for s in range(0, q_all.shape[0], chunk):
            q = q_all[s:s + chunk]
            ip = q @ self.base.T
            if self.metric == "l2":
                dist = (q * q).sum(1, keepdim=True) + self.norms[None, :] - 2 * ip
                d, i = torch.topk(dist, k, dim=1, largest=False)
            else:
                d, i = torch.topk(ip, k, dim=1, largest=True)
            out_d.append(d)
            out_i.append(i)
        d = torch.cat(out_d).cpu().numpy()  # the copy back synchronises
        i = torch.cat(out_i).cpu().numpy()
        return d, i

    def index_bytes(self):
        return int(self.base.numel() * 4 + self.norms.numel() * 4), "device tensors: base + norms"

    def close(self):
        self.base = self.norms = None
        self.torch.cuda.empty_cache()
