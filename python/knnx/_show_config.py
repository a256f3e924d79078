"""knnx.show_config(): what this build contains and finds on this machine."""

import sys

from knnx._knnx import build_info


def show_config(file=None):
    """Print the version, whether the CUDA backend is built, the visible GPUs, the BLAS and the
    CPU threads a search uses (the same facts as `knnx info`); the dict is knnx.build_info()."""
    info = build_info()
    out = sys.stdout if file is None else file
    if not info["cuda_compiled"]:
        gpus = "- (built without CUDA: reinstall where nvcc is found to use a GPU)"
    elif not info["cuda_devices"]:
        gpus = "none visible"
    else:
        gpus = ", ".join(f"cuda:{i} {name}" for i, name in enumerate(info["cuda_devices"]))
    rows = [
        ("version", info["version"]),
        ("backends", "cpu, cuda" if info["cuda_compiled"] else "cpu (built without CUDA)"),
        ("cuda devices", gpus),
        ("blas", info["blas"]),
        ("cpu threads", f"{info['cpu_threads']} (of {info['cpu_processors']} processors)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=out)
