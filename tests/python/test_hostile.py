"""Hostile input and faults through the Python API: non-regular files, NUL in paths and .npy
headers, long names, symbolic links, stale temporary files, ids at the edge of the id range,
vectors above the norm bound (whose distances would overflow float), re-training a used
transform. docs/reliability.md lists each class with its test."""

import os
import struct
import subprocess
import sys
import time

import numpy as np
import pytest

import knnx

LOADERS = [knnx.read_fvecs, knnx.read_ivecs, knnx.read_bvecs, knnx.read_npy, knnx.read_vectors,
           knnx.read_index]


def run_python(code: str, timeout: float = 60, **env):
    """Runs code in a fresh interpreter with the test's import path; returns the process."""
    environ = dict(os.environ, **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("load", LOADERS, ids=lambda f: f.__name__)
def test_fifo_is_refused_without_blocking(tmp_path, load):
    fifo = tmp_path / "pipe.fvecs"
    os.mkfifo(fifo)
    # In a subprocess with a timeout, so that a regression fails instead of hanging the suite.
    run = run_python(f"import knnx\ntry:\n    knnx.{load.__name__}({str(fifo)!r})\n"
                     "except knnx.IoError as e:\n    print(e)\n", timeout=30)
    assert "not a regular file (a FIFO)" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("path", ["/dev/null", "/dev/zero"])
def test_devices_are_refused(path):
    with pytest.raises(knnx.IoError, match="character device"):
        knnx.read_fvecs(path)
    with pytest.raises(OSError):
        knnx.read_index(path)


@pytest.mark.parametrize("path", ["a\0b.fvecs", b"a\0b.fvecs"])
def test_nul_in_a_path_is_a_value_error(tmp_path, path):
    for call in (lambda: knnx.read_fvecs(path),
                 lambda: knnx.write_fvecs(path, np.ones((2, 2), np.float32)),
                 lambda: knnx.read_index(path),
                 lambda: knnx.write_index(knnx.IndexFlat(2), path)):
        with pytest.raises(ValueError, match="NUL character at position 1"):
            call()


def test_npy_header_with_nul_in_descr_gives_the_whole_message(tmp_path):
    header = b"{'descr': '<f\x004', 'fortran_order': False, 'shape': (2, 2), }"
    header += b" " * (64 - 10 - len(header) - 1) + b"\n"
    path = tmp_path / "nul.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(16))
    with pytest.raises(knnx.FormatError) as info:
        knnx.read_npy(path)
    message = str(info.value)
    assert "'<f\\x004'" in message and "supported: '<f4'" in message, message


def test_names_up_to_name_max_save_and_load(tmp_path):
    index = knnx.IndexFlat(3)
    index.add(np.eye(3, dtype=np.float32))
    for length in (245, 255):
        path = tmp_path / ("i" * (length - 5) + ".knnx")
        knnx.write_index(index, path)
        assert knnx.read_index(path).ntotal == 3
    assert len(list(tmp_path.iterdir())) == 2  # no temporary file left


def test_saving_through_a_symlink_writes_the_target(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "index.knnx"
    link = tmp_path / "link.knnx"
    link.symlink_to("real/index.knnx")
    index = knnx.IndexFlat(3)
    knnx.write_index(index, target)
    index.add(np.eye(3, dtype=np.float32))
    knnx.write_index(index, link)
    assert link.is_symlink()
    assert knnx.read_index(target).ntotal == 3


def test_temporary_file_of_a_killed_save_is_reclaimed(tmp_path):
    target = tmp_path / "x.knnx"
    stale = tmp_path / "x.knnx.tmp.0123456789abcdef"
    stale.write_bytes(b"\0" * 4096)  # what a save killed by SIGKILL leaves
    old = time.time() - 3600
    os.utime(stale, (old, old))
    knnx.write_index(knnx.IndexFlat(2), target)
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.knnx"]


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_accepted_ids_are_loadable_ids(tmp_path, kind):
    largest = 2**63 - 2
    index = knnx.IndexFlat(2) if kind == "flat" else knnx.IndexIVFFlat(2, 1)
    x = np.ones((2, 2), np.float32)
    index.train(x)
    with pytest.raises(knnx.InvalidArgument, match="largest id"):
        index.add_with_ids(x[:1], np.array([largest + 1], np.int64))
    index.add_with_ids(x, np.array([largest, 0], np.int64))
    knnx.write_index(index, tmp_path / "ids.knnx")
    loaded = knnx.read_index(tmp_path / "ids.knnx")
    assert loaded.ntotal == 2
    with pytest.raises(knnx.InvalidArgument, match="largest id"):
        loaded.add(x[:1])  # the next sequential id would be 2^63 - 1
    assert loaded.ntotal == 2


def test_sequential_ids_never_wrap_to_negative():
    index = knnx.IndexFlat(2)
    x = np.ones((3, 2), np.float32)
    index.add_with_ids(x[:1], np.array([2**63 - 3], np.int64))
    with pytest.raises(knnx.InvalidArgument, match="largest id"):
        index.add(x[:2])
    assert index.ntotal == 1
    index.add(x[:1])
    _, labels = index.search(x[:1], 2)
    assert sorted(labels[0]) == [2**63 - 3, 2**63 - 2]


# The largest squared L2 norm knnx accepts: FLT_MAX / 8 (knnx/types.hpp, kMaxSquaredNorm).
MAX_SQUARED_NORM = float(np.finfo(np.float32).max) / 8


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_vectors_above_the_norm_bound_are_refused(metric, kind):
    # Values near 3e19 used to give inf distances and IVF labels -1 without an error.
    d = 4
    below = np.float32(np.sqrt(MAX_SQUARED_NORM / d * 0.999))
    above = np.float32(np.sqrt(MAX_SQUARED_NORM / d * 1.001))
    if kind == "flat":
        index = knnx.IndexFlat(d, metric)
    else:
        index = knnx.IndexIVFFlat(d, 2, metric)
        train = np.zeros((4, d), np.float32)
        train[:, 0] = np.arange(4)
        index.train(train)
        index.n_probe = 2
    x = np.zeros((4, d), np.float32)
    x[0], x[1] = below, -below  # the farthest apart two accepted vectors can be
    x[2:, 1] = [1, 2]
    index.add(x)
    distances, labels = index.search(x, 4)
    assert np.isfinite(distances).all() and (labels >= 0).all()
    bad = np.ones((3, d), np.float32)
    bad[1] = above
    with pytest.raises(knnx.InvalidArgument, match=r"x row 1 has a squared L2 norm of .* above "
                       r"the largest accepted, 4.254e\+37"):
        index.add(bad)
    with pytest.raises(ValueError, match="x row 1"):
        index.add_with_ids(bad, np.arange(10, 13))
    with pytest.raises(ValueError, match="queries row 1"):
        index.search(bad, 1)
    with pytest.raises(ValueError, match="in rows 0:2 of x: x row 1"):
        index.add(bad, verbose=True, chunk_size=2)
    assert index.ntotal == 4


def test_stored_vectors_above_the_norm_bound_are_refused_on_load(tmp_path):
    # A FAISS IndexFlatL2 file of 3 vectors of d = 4 (the floats from byte 45 on).
    seed = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "faiss_index",
                        "flat_l2.faiss")
    data = bytearray(open(seed, "rb").read())
    for scale, ok in ((0.999, True), (1.001, False)):
        v = np.float32(np.sqrt(MAX_SQUARED_NORM / 4 * scale))
        data[45 + 16:45 + 32] = np.full(4, v, np.float32).tobytes()
        path = tmp_path / "flat.faiss"
        path.write_bytes(bytes(data))
        if ok:
            assert knnx.read_index(str(path)).ntotal == 3
        else:
            with pytest.raises(knnx.FormatError, match="row 1 of squared L2 norm"):
                knnx.read_index(str(path))


def test_retraining_a_transform_inside_a_non_empty_index_raises():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 8)).astype(np.float32)
    pca = knnx.PCA(8, 4)
    index = knnx.IndexPreTransform(pca, knnx.IndexFlat(4))
    index.train(x)
    index.add(x)
    before = index.search(x[:3], 5)
    with pytest.raises(knnx.InvalidArgument, match="holds 64 vectors"):
        pca.train(x[::-1].copy())
    after = index.search(x[:3], 5)
    np.testing.assert_array_equal(before[1], after[1])
    index.reset()
    pca.train(x[::-1].copy())  # allowed once the index is empty


def test_kmeans_progress_callback_outlives_the_index_it_was_set_on():
    # The callback was set on an IVF index that was then moved into an IndexPreTransform and
    # deleted: training through the wrapper used to call freed memory (a segfault).
    import gc
    calls = []
    ivf = knnx.IndexIVFFlat(8, 4)
    params = ivf.kmeans_params
    params.progress = lambda iteration, objective, seconds: calls.append(iteration)
    ivf.kmeans_params = params
    del params
    index = knnx.IndexPreTransform(knnx.RandomRotation(8), ivf)
    del ivf
    gc.collect()
    index.train(np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32))
    assert calls and calls[0] == 0


def test_progress_callback_may_read_the_index_but_not_change_it():
    x = np.random.default_rng(1).standard_normal((400, 8)).astype(np.float32)
    index = knnx.IndexIVFFlat(8, 4)
    seen = []

    def report(iteration, objective, seconds):
        seen.append(index.ntotal)  # a read: used to deadlock on the index's lock
        with pytest.raises(knnx.InvalidArgument, match="cannot be changed from a callback"):
            index.add(x[:1])

    params = index.kmeans_params
    params.progress = report
    index.kmeans_params = params
    run = [None]

    def train():
        index.train(x)
        run[0] = "done"

    import threading
    thread = threading.Thread(target=train)
    thread.start()
    thread.join(60)
    assert run[0] == "done", "train did not finish: a callback deadlocked"
    assert seen and all(n == 0 for n in seen)
    assert index.ntotal == 0 and index.is_trained


def test_search_under_an_address_space_cap_finishes():
    # 64 OpenMP threads under a 2 GB cap: each thread calling BLAS needs an OpenBLAS buffer,
    # and a thread whose buffer could not be mapped waited in OpenBLAS forever (a hang).
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (2_000_000_000, 2_000_000_000))

    code = ("import knnx, numpy as np\n"
            "x = np.random.default_rng(0).standard_normal((20000, 64)).astype(np.float32)\n"
            "i = knnx.IndexFlat(64)\n"
            "i.add(x)\n"
            "try:\n"
            "    D, I = i.search(x[:2000], 5)\n"
            "    print('searched', int(I[0, 0]))\n"
            "except knnx.OutOfMemory as e:\n"
            "    print('refused:', e)\n")
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, OMP_NUM_THREADS="64"),
                         capture_output=True, text=True, timeout=120, preexec_fn=cap)
    assert run.returncode == 0, run.stderr
    assert "searched 0" in run.stdout or "refused:" in run.stdout, run.stdout + run.stderr


@pytest.mark.parametrize("cap_mb", [200, 400, 800])
def test_import_and_search_under_a_small_address_space_cap(cap_mb):
    # OpenBLAS maps a 128 MiB buffer per thread while it loads, and retried forever (import knnx
    # hung) or ended the process when the cap left no room. knnx now lowers the thread count to
    # what the cap affords before loading it, or refuses with MemoryError: never a hang or abort.
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))

    code = ("import knnx, numpy as np\n"
            "x = np.random.default_rng(0).standard_normal((5000, 32)).astype(np.float32)\n"
            "i = knnx.IndexFlat(32)\n"
            "i.add(x)\n"
            "try:\n"
            "    D, I = i.search(x[:500], 5)\n"
            "    print('searched', int(I[0, 0]))\n"
            "except knnx.OutOfMemory as e:\n"
            "    print('refused:', e)\n")
    run = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, OMP_NUM_THREADS="64"),
                         capture_output=True, text=True, timeout=120, preexec_fn=cap)
    finished = "searched 0" in run.stdout or "refused:" in run.stdout
    refused_at_import = run.returncode != 0 and ("MemoryError" in run.stderr
                                                 or "ImportError" in run.stderr)
    assert finished or refused_at_import, run.stdout + run.stderr
    assert "libgomp" not in run.stderr and "OpenBLAS error" not in run.stderr, run.stderr
