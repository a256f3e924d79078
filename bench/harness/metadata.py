"""What a results file records about the machine, the code and the libraries."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import shlex
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    wanted = {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl"}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return sorted(f for f in line.split(":", 1)[1].split() if f in wanted)
    except OSError:
        pass
    return []


def loadavg() -> list[float]:
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def host(threads: int) -> dict:
    n = os.cpu_count()
    return {"name": socket.gethostname(), "cpu_model": cpu_model(), "cpu_flags": cpu_flags(),
            "nproc": n, "platform": platform.platform(),
            "note": (f"{n} cores, shared with other work (see loadavg); {threads} threads used"
                     if n is not None and n <= 4 else f"{threads} threads used")}


def git_state() -> tuple[str | None, bool | None]:
    # A copy of the tree run elsewhere may carry a .git that is not its own: the caller's
    # KNNX_COMMIT names the commit then (cleanliness unknown).
    if os.environ.get("KNNX_COMMIT"):
        return os.environ["KNNX_COMMIT"], None
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src",
                                "include", "python", "bench", "cli", "CMakeLists.txt", "cmake"],
                               check=True, capture_output=True, text=True).stdout.strip()
        return commit, bool(dirty)
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("KNNX_COMMIT"), None


def command() -> str:
    return " ".join(shlex.quote(a) for a in [os.path.basename(sys.executable), "-m", "bench.harness",
                                              *sys.argv[1:]])


def versions(modules) -> dict:
    out = {"python": platform.python_version()}
    for mod in modules:
        m = sys.modules.get(mod)
        v = getattr(m, "__version__", None) if m is not None else None
        if v is None:
            try:
                v = importlib.metadata.version({"faiss": "faiss-cpu"}.get(mod, mod))
            except importlib.metadata.PackageNotFoundError:
                continue
        out[mod] = str(v)
    return out


def gpus() -> list[dict]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                              "--format=csv,noheader"], check=True, capture_output=True,
                             text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2:
            rows.append({"name": parts[0], "driver": parts[1],
                         "memory": parts[2] if len(parts) > 2 else None})
    return rows


def environment() -> dict:
    keys = ("OMP_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
            "OMP_WAIT_POLICY", "CUDA_VISIBLE_DEVICES")
    env = {k: os.environ[k] for k in keys if k in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("KNNX_")})
    return dict(sorted(env.items()))
