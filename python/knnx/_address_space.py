"""Fits the OpenMP thread count to an address-space cap before the native module loads.

Under RLIMIT_AS (`ulimit -v`), OpenBLAS maps a 128 MiB work buffer for each OpenMP thread while
it is loaded, and retries forever or ends the process when the cap leaves no room: `import
knnx` would hang. Before loading it, the thread count is lowered to what the cap affords
(OMP_NUM_THREADS, also when set higher), as the knnx command does (cli/address_space.cpp), and a cap that
leaves no room for one thread raises MemoryError. It has no effect when another module has
already started the OpenMP runtime.
"""

from __future__ import annotations

import os
import resource

# Address space per BLAS thread: a work buffer, a stack and margin (src/cpu/blas.cpp); half of
# what is left is kept for the data. Loading the native module and its libraries maps about
# 52 MiB more in a CPU build (measured), budgeted as 96 with what Python allocates meanwhile.
_BYTES_PER_BLAS_THREAD = 160 << 20
_LIBRARY_BYTES = 96 << 20


def _mapped_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def fit_threads_to_address_space() -> None:
    cap, _ = resource.getrlimit(resource.RLIMIT_AS)
    if cap == resource.RLIM_INFINITY:
        return
    left = max(0, cap - _mapped_bytes() - _LIBRARY_BYTES)
    if left < _BYTES_PER_BLAS_THREAD:
        raise MemoryError(
            f"knnx: the address-space limit (RLIMIT_AS, ulimit -v) of {cap >> 20} MiB leaves "
            f"{left >> 20} MiB beside knnx's libraries, less than the "
            f"{_BYTES_PER_BLAS_THREAD >> 20} MiB the BLAS library maps for its first thread when "
            "it loads: raise the limit")
    # Every OpenMP thread maps a stack, and OpenBLAS a buffer for each of up to one per CPU: each
    # thread is budgeted in full. More threads than the cap affords, the user's value included,
    # would hang the import or abort the first parallel region.
    wanted = len(os.sched_getaffinity(0))
    try:
        wanted = max(1, int(os.environ.get("OMP_NUM_THREADS", wanted)))
    except ValueError:
        pass
    affordable = max(1, left // 2 // _BYTES_PER_BLAS_THREAD)
    if affordable < wanted:
        os.environ["OMP_NUM_THREADS"] = str(affordable)
