"""FAISS's GPU entry points spelt as FAISS spells them: StandardGpuResources, get_num_gpus,
index_cpu_to_gpu, index_gpu_to_cpu and index_cpu_to_all_gpus.

A FAISS GPU script starts `res = faiss.StandardGpuResources();
gpu_index = faiss.index_cpu_to_gpu(res, 0, cpu_index)`. knnx indexes take a device when built
or loaded and keep their GPU streams and scratch memory per device, so these functions copy an
index to a device (through its file bytes, as serialize_index writes them) and the resources
object carries the one setting of FAISS's that knnx has: the scratch-memory bound of searches.
"""

from __future__ import annotations

from knnx import _knnx
from knnx._index_file import deserialize_index, serialize_index


# The smallest scratch bound of GPU searches knnx takes (knob gpu_workspace_mb), MiB.
_MIN_WORKSPACE_MB = 16


class StandardGpuResources:
    """FAISS's GPU resources object. knnx allocates streams and scratch memory per device
    itself; setTempMemory(n) bounds the scratch memory of GPU searches to n bytes, rounded up
    to whole MiB and to at least 16 MiB (it sets the process-wide default of
    SearchParameters.workspace_bytes, knob gpu_workspace_mb, so it applies to every GPU index of
    the process, not only to those copied with this object)."""

    def setTempMemory(self, size: int) -> None:  # noqa: N802 (FAISS's name)
        if size < 0:
            raise ValueError(f"setTempMemory: size must be >= 0 bytes, got {size}")
        mib = (int(size) + (1 << 20) - 1) >> 20
        _knnx.set_config(gpu_workspace_mb=max(_MIN_WORKSPACE_MB, mib))

    def noTempMemory(self) -> None:  # noqa: N802
        """The smallest scratch bound knnx takes (16 MiB): searches run in small batches."""
        _knnx.set_config(gpu_workspace_mb=_MIN_WORKSPACE_MB)


def get_num_gpus() -> int:
    """The number of CUDA devices this process sees (0 in a build without CUDA)."""
    return len(_knnx.build_info()["cuda_devices"])


def _check_resources(res) -> None:
    if res is not None and not isinstance(res, StandardGpuResources):
        raise TypeError(f"res must be a knnx.StandardGpuResources (or None), got "
                        f"{type(res).__name__}")


def index_cpu_to_gpu(res, device: int, index: _knnx.Index, options=None) -> _knnx.Index:
    """A copy of index on GPU `device` (an int, as in FAISS); index itself is unchanged.
    options (FAISS's GpuClonerOptions) are not taken: passing any raises knnx.NotSupported.
    A build or machine without that GPU raises the error that says what to do instead."""
    _check_resources(res)
    if options is not None:
        raise _knnx.NotSupported("index_cpu_to_gpu: knnx takes no GpuClonerOptions (the copy "
                                 "stores float32 vectors as the original does)")
    if isinstance(device, bool) or not isinstance(device, int) or device < 0:
        raise ValueError(f"device must be a GPU number >= 0, got {device!r}")
    return deserialize_index(serialize_index(index), f"cuda:{device}")


def index_gpu_to_cpu(index: _knnx.Index) -> _knnx.Index:
    """A copy of index on the CPU; index itself is unchanged."""
    return deserialize_index(serialize_index(index), "cpu")


def index_cpu_to_all_gpus(index: _knnx.Index, co=None, ngpu: int = -1) -> _knnx.Index:
    """A copy of index on GPU 0, where it runs on one GPU: knnx spreads an index over several
    GPUs through IndexShards / IndexReplicas in C++, not through this call, so ngpu other than
    -1 or 1 (with more than one GPU visible) raises knnx.NotSupported."""
    if ngpu not in (-1, 1) and not (ngpu == get_num_gpus() == 1):
        raise _knnx.NotSupported(f"index_cpu_to_all_gpus: ngpu = {ngpu}; knnx copies the index "
                                 "to one GPU here")
    return index_cpu_to_gpu(None, 0, index, co)
