"""CUDA arrays as index arguments: PyTorch tensors, CuPy arrays, and any object that exposes
``__cuda_array_interface__`` or ``__dlpack__`` with a CUDA device.

A device argument is read in place: its address goes to the index's low-level ``_search_ptr`` /
``_add_ptr`` / ``_train_ptr`` methods, with no copy. knnx reads float32 vectors and int64 ids
on the device, C-contiguous, on the index's own device; anything else raises ValueError with
the conversion to make. Search results for a device input are allocated on the same device by
the input's framework (``torch.empty`` / ``cupy.empty``), or otherwise by knnx as arrays that
export DLPack (``torch.from_dlpack`` / ``cupy.from_dlpack`` take them).

Ordering: before knnx reads a device input, the work its producer queued on its stream is
waited for (PyTorch: the current stream of the tensor's device; CuPy: the current stream;
``__cuda_array_interface__``: its ``stream`` entry; DLPack: the legacy default stream, which
the producer orders its data before). knnx searches on streams of its own and returns only
when the results are complete, so they may be used on any stream right away.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

import numpy as np

from knnx import _knnx

# DLPack device types (dlpack.h, DLDeviceType).
_DL_CPU = 1
_DL_CUDA = 2
_DL_CUDA_HOST = 3
_DL_CUDA_MANAGED = 13

def _module(name: str):
    """The framework module if it is already imported (an array of it can only exist then)."""
    return sys.modules.get(name)


def _torch_tensor(obj) -> bool:
    torch = _module("torch")
    return torch is not None and isinstance(obj, torch.Tensor)


def _cupy_array(obj) -> bool:
    cupy = _module("cupy")
    return cupy is not None and isinstance(obj, cupy.ndarray)


def is_device_array(obj: Any, name: str) -> bool:
    """Whether obj lives in CUDA device memory (False for numpy arrays, lists, host tensors).

    Raises ValueError for arrays on a device knnx cannot read (e.g. a PyTorch "mps" tensor).
    """
    if type(obj) is np.ndarray:
        return False
    if _torch_tensor(obj):
        kind = obj.device.type
        if kind == "cuda":
            return True
        if kind == "cpu":
            return False
        raise ValueError(f"{name} is a tensor on device '{obj.device}'; knnx reads host (cpu) "
                         f"and CUDA tensors: move it with {name}.cpu() or {name}.cuda()")
    if _cupy_array(obj):
        return True
    if hasattr(obj, "__cuda_array_interface__"):
        return True
    dlpack_device = getattr(obj, "__dlpack_device__", None)
    if dlpack_device is not None and hasattr(obj, "__dlpack__"):
        device_type = int(dlpack_device()[0])
        if device_type in (_DL_CUDA, _DL_CUDA_MANAGED):
            return True
        if device_type not in (_DL_CPU, _DL_CUDA_HOST):
            raise ValueError(f"{name} is on DLPack device type {device_type}; knnx reads host "
                             f"and CUDA memory")
    return False


@dataclass
class DeviceArray:
    """A device array read in place: where it is, its shape, and what keeps it alive."""

    obj: Any                # the caller's object (kept alive for the duration of the call)
    address: int
    shape: Tuple[int, ...]
    device: int             # CUDA ordinal
    framework: str          # "torch", "cupy", or "dlpack" (anything else)
    keepalive: Any = None   # an imported DLPack tensor, when there is one
    synchronize: Optional[Callable[[], None]] = None  # waits for the producer's pending work

    @property
    def rows(self) -> int:
        return self.shape[0] if len(self.shape) == 2 else 1


@dataclass
class _Raw:
    """What a device array says about itself, before knnx's requirements are checked."""

    address: int
    shape: Tuple[int, ...]
    strides: Optional[Tuple[int, ...]]  # in bytes; None: C-contiguous
    dtype: str                          # numpy-style name: "float32", "float64", "int64", ...
    device: int
    framework: str
    keepalive: Any = None
    synchronize: Optional[Callable[[], None]] = None


def _read_torch(t) -> _Raw:
    import torch

    dtype = str(t.dtype).replace("torch.", "")
    itemsize = t.element_size()
    device = t.device.index if t.device.index is not None else torch.cuda.current_device()
    return _Raw(address=t.data_ptr(), shape=tuple(t.shape),
                strides=tuple(s * itemsize for s in t.stride()), dtype=dtype, device=device,
                framework="torch",
                synchronize=lambda: torch.cuda.current_stream(device).synchronize())


def _read_cupy(a) -> _Raw:
    import cupy

    device = a.device.id

    def synchronize():
        with cupy.cuda.Device(device):
            cupy.cuda.get_current_stream().synchronize()

    return _Raw(address=a.data.ptr, shape=tuple(a.shape), strides=tuple(a.strides),
                dtype=str(a.dtype), device=device, framework="cupy", synchronize=synchronize)


def _read_cuda_array_interface(obj, name: str) -> _Raw:
    cai = obj.__cuda_array_interface__
    try:
        shape = tuple(int(s) for s in cai["shape"])
        typestr = cai["typestr"]
        address = int(cai["data"][0])
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise ValueError(f"{name} has a malformed __cuda_array_interface__: {e!r}") from e
    if cai.get("mask") is not None:
        raise ValueError(f"{name} is a masked array (__cuda_array_interface__ has a mask); "
                         f"knnx reads plain arrays")
    strides = cai.get("strides")
    strides = None if strides is None else tuple(int(s) for s in strides)
    try:
        dtype = str(np.dtype(typestr))
        if np.dtype(typestr).byteorder == ">":
            dtype = f"big-endian {dtype}"
    except TypeError:
        dtype = str(typestr)
    count = int(np.prod(shape)) if shape else 1
    device = _knnx._pointer_device(address) if address and count else -1
    if count and device < 0:
        raise ValueError(f"{name}: the address in its __cuda_array_interface__ ({address:#x}) is "
                         f"not CUDA device memory")
    stream = cai.get("stream")  # version 3: the producer's stream; None: already ordered
    synchronize = None
    if stream is not None and device >= 0:
        synchronize = lambda: _knnx._synchronize_stream(device, int(stream))  # noqa: E731
    return _Raw(address=address, shape=shape, strides=strides, dtype=dtype, device=device,
                framework="dlpack", synchronize=synchronize)


def _read_dlpack(obj, name: str) -> _Raw:
    view = _knnx._dlpack_view(obj)
    if view is None:
        raise ValueError(f"{name} ({type(obj).__name__}) reports a CUDA device but exports no "
                         f"DLPack tensor knnx can read")
    keepalive, address, shape, strides, dtype, _, device = view
    bits = "".join(c for c in dtype.split("x")[0] if c.isdigit())  # "float32" -> 32
    itemsize = max(1, int(bits) // 8) if bits else 1
    return _Raw(address=address, shape=tuple(shape),
                strides=tuple(s * itemsize for s in strides), dtype=dtype, device=device,
                framework="dlpack", keepalive=keepalive,
                synchronize=lambda: _knnx._synchronize_stream(device, 1))


def _read_raw(obj, name: str) -> _Raw:
    if _torch_tensor(obj):
        return _read_torch(obj)
    if _cupy_array(obj):
        return _read_cupy(obj)
    if hasattr(obj, "__cuda_array_interface__"):
        return _read_cuda_array_interface(obj, name)
    return _read_dlpack(obj, name)


def _c_contiguous(shape, strides, itemsize: int) -> bool:
    if strides is None:
        return True
    expected = itemsize
    for extent, stride in zip(reversed(shape), reversed(strides)):
        if extent != 1 and stride != expected:
            return False
        expected *= extent
    return True


def _hint(framework: str, name: str, what: str, device: int = 0) -> str:
    """How to make the array acceptable, in the caller's framework."""
    hints = {
        ("torch", "float32"): f"{name}.float()",
        ("torch", "int64"): f"{name}.long()",
        ("torch", "contiguous"): f"{name}.contiguous()",
        ("torch", "device"): f"{name}.to('cuda:{device}')",
        ("cupy", "float32"): f"{name}.astype(cupy.float32)",
        ("cupy", "int64"): f"{name}.astype(cupy.int64)",
        ("cupy", "contiguous"): f"cupy.ascontiguousarray({name})",
        ("cupy", "device"): f"a copy made under cupy.cuda.Device({device})",
    }
    generic = {"float32": "a float32 copy", "int64": "an int64 copy",
               "contiguous": "a C-contiguous copy", "device": f"a copy on cuda:{device}"}
    return hints.get((framework, what), generic[what])


def read_vectors(obj, name: str, d: int, device: int) -> DeviceArray:
    """A device array of vectors, (n, d) or (d,), float32 and C-contiguous, on CUDA `device`."""
    raw = _read_raw(obj, name)
    shape = raw.shape
    if len(shape) not in (1, 2):
        raise ValueError(f"{name} must be a 2-D array (n, {d}) or a 1-D array ({d},), got a "
                         f"{len(shape)}-D array of shape {shape}")
    if shape[-1] != d:
        raise ValueError(f"{name} has {shape[-1]} columns (shape {shape}), expected d = {d}")
    if 0 in shape:
        raise ValueError(f"{name} is empty (shape {shape})")
    if raw.dtype != "float32":
        extra = " (knnx computes in float32)" if raw.dtype == "float64" else ""
        raise ValueError(f"{name} is a CUDA array of dtype {raw.dtype}; on the device knnx reads "
                         f"float32{extra}: pass {_hint(raw.framework, name, 'float32')}")
    _check_layout(raw, name, device, 4)
    return DeviceArray(obj=obj, address=raw.address, shape=shape, device=raw.device,
                       framework=raw.framework, keepalive=raw.keepalive,
                       synchronize=raw.synchronize)


def read_ids_to_host(obj, name: str, n: Optional[int], device: int) -> np.ndarray:
    """Device ids (n,), int64 and contiguous on CUDA `device`, copied to a numpy array (n=None:
    any length; the caller matches it against the vectors).

    The index keeps its ids on the host, so device ids are copied there once.
    """
    raw = _read_raw(obj, name)
    if len(raw.shape) != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {raw.shape}")
    if n is not None and raw.shape[0] != n:
        raise ValueError(f"{name} has {raw.shape[0]} entries but x has {n} vectors; they must "
                         f"match")
    if raw.dtype != "int64":
        raise ValueError(f"{name} is a CUDA array of dtype {raw.dtype}; on the device knnx reads "
                         f"int64 ids: pass {_hint(raw.framework, name, 'int64')}")
    _check_layout(raw, name, device, 8)
    if raw.synchronize is not None:
        raw.synchronize()
    if raw.shape[0] == 0:
        return np.empty(0, np.int64)
    return _knnx._copy_to_host(raw.address, [raw.shape[0]], "int64", raw.device)


def _check_layout(raw: _Raw, name: str, device: int, itemsize: int) -> None:
    if not _c_contiguous(raw.shape, raw.strides, itemsize):
        raise ValueError(f"{name} is not C-contiguous (shape {raw.shape}, strides {raw.strides} "
                         f"bytes); knnx reads device arrays in place: pass "
                         f"{_hint(raw.framework, name, 'contiguous')}")
    if raw.address % itemsize:
        raise ValueError(f"{name}'s data address {raw.address:#x} is not {itemsize}-byte aligned")
    if raw.device != device:
        raise ValueError(f"{name} is on cuda:{raw.device} but the index is on cuda:{device}: "
                         f"pass {_hint(raw.framework, name, 'device', device)}")


def empty_results(source: Optional[DeviceArray], nq: int, k: int, device: int):
    """Uninitialised (distances float32, labels int64) of shape (nq, k) on CUDA `device`,
    allocated by the source array's framework (knnx DLPack arrays for others).

    Returns (distances, labels, distances address, labels address).
    """
    framework = source.framework if source is not None else "dlpack"
    if framework == "torch":
        import torch

        dev = torch.device("cuda", device)
        D = torch.empty((nq, k), dtype=torch.float32, device=dev)
        I = torch.empty((nq, k), dtype=torch.int64, device=dev)
        return D, I, D.data_ptr(), I.data_ptr()
    if framework == "cupy":
        import cupy

        with cupy.cuda.Device(device):
            D = cupy.empty((nq, k), dtype=cupy.float32)
            I = cupy.empty((nq, k), dtype=cupy.int64)
        return D, I, D.data.ptr, I.data.ptr
    D, d_address = _knnx._device_empty([nq, k], "float32", device)
    I, i_address = _knnx._device_empty([nq, k], "int64", device)
    return D, I, d_address, i_address


def empty_host_results(nq: int, k: int):
    """Uninitialised numpy (distances float32, labels int64) of shape (nq, k) and addresses."""
    D = np.empty((nq, k), dtype=np.float32)
    I = np.empty((nq, k), dtype=np.int64)
    return D, I, D.ctypes.data, I.ctypes.data
