"""The bad-input matrix: one table of (input -> exception type, message pattern), run against
IndexFlat and IndexIVFFlat on the CPU and, where a GPU is present, on cuda (marked `gpu`, skipped
elsewhere). After every refused call the index is exactly as it was. File cases follow."""

import os

import numpy as np
import pytest

import knnx

D = 8
N_BASE = 200
BIG = np.iinfo(np.int64).max // 2


def make_index(kind, device, trained=True):
    if kind == "flat":
        index = knnx.IndexFlat(D, device=device)
    else:
        index = knnx.IndexIVFFlat(D, 4, device=device)
        index.n_probe = 2
    if trained:
        xb = np.random.default_rng(1).standard_normal((N_BASE, D)).astype(np.float32)
        index.train(xb)
        index.add(xb)
    return index


def snapshot(index):
    state = [index.ntotal, index.is_trained]
    if isinstance(index, knnx.IndexIVFFlat):
        state += [index.n_probe, list(index.list_sizes())]
    if index.is_trained:
        q = np.random.default_rng(99).standard_normal((3, D)).astype(np.float32)
        dist, lab = index.search(q, 5)
        state += [dist.tolist(), lab.tolist()]
    return state


GOOD = np.random.default_rng(2).standard_normal((4, D)).astype(np.float32)


def with_value(row, col, value):
    x = GOOD.copy()
    x[row, col] = value
    return x


def big_float64():
    x = GOOD.astype(np.float64)
    x[0, 3] = 1e300
    return x


def fortran_view():
    return np.asfortranarray(np.random.default_rng(3).standard_normal((4, D)).astype(np.float32))


def set_n_probe(value):
    def call(ix):
        ix.n_probe = value
    return call


# (input, call, exception type, message pattern, flags). Flags: "untrained" starts from an
# untrained index, "ivf" runs only on IndexIVFFlat. A None exception means the call succeeds and
# changes nothing.
CASES = [
    ("add wrong dims (2, 5)", lambda ix: ix.add(np.ones((2, 5), np.float32)), ValueError,
     r"x has 5 columns \(shape \(2, 5\)\), expected d = 8", ""),
    ("add 3-D array", lambda ix: ix.add(np.ones((2, 2, D), np.float32)), ValueError,
     r"x must be a 2-D array", ""),
    ("add zero vectors", lambda ix: ix.add(np.ones((0, D), np.float32)), ValueError,
     r"x is empty \(shape \(0, 8\)\)", ""),
    ("add strings", lambda ix: ix.add(np.array([["a"] * D])), ValueError,
     r"x must hold real numbers", ""),
    ("add complex", lambda ix: ix.add(np.ones((2, D), np.complex64)), ValueError,
     r"x must hold real numbers", ""),
    ("add NaN", lambda ix: ix.add(with_value(2, 5, np.nan)), ValueError,
     r"x contains a non-finite value \(nan\) at row 2, column 5", ""),
    ("add +Inf", lambda ix: ix.add(with_value(1, 0, np.inf)), ValueError,
     r"x contains a non-finite value \(inf\) at row 1, column 0", ""),
    ("add float64 beyond float32", lambda ix: ix.add(big_float64()),
     ValueError, r"outside the float32 range", ""),
    ("add before train", lambda ix: ix.add(GOOD), ValueError,
     r"the index must be trained before add", "untrained ivf"),
    ("add_with_ids negative", lambda ix: ix.add_with_ids(GOOD, [1000, -1, 1001, 1002]),
     ValueError, r"ids\[1\] = -1 is negative", ""),
    ("add_with_ids duplicated", lambda ix: ix.add_with_ids(GOOD, [1000, 1001, 1000, 1002]),
     ValueError, r"ids\[2\] = 1000 appears more than once", ""),
    ("add_with_ids already stored", lambda ix: ix.add_with_ids(GOOD, [1000, 1001, 7, 1002]),
     ValueError, r"ids\[2\] = 7 is already stored in the index", ""),
    ("add_with_ids length mismatch", lambda ix: ix.add_with_ids(GOOD, [1, 2]), ValueError,
     r"ids has 2 entries but x has 4 vectors", ""),
    ("add_with_ids float ids", lambda ix: ix.add_with_ids(GOOD, np.arange(4.0)), ValueError,
     r"ids must hold integers", ""),
    ("train NaN", lambda ix: ix.train(with_value(2, 5, np.nan)), ValueError,
     r"x contains a non-finite value \(nan\) at row 2, column 5", ""),
    ("train fewer vectors than lists", lambda ix: ix.train(GOOD[:3]), ValueError,
     r"3 training vectors cannot make 4 lists", "untrained ivf"),
    ("train while holding vectors", lambda ix: ix.train(GOOD), ValueError,
     r"train needs an empty index, but it holds 200 vectors", "ivf"),
    ("search k = 0", lambda ix: ix.search(GOOD, 0), ValueError, rf"k must be in \[1, {knnx.MAX_K}\], got 0",
     ""),
    ("search k = -1", lambda ix: ix.search(GOOD, -1), ValueError,
     rf"k must be in \[1, {knnx.MAX_K}\], got -1", ""),
    ("search k above the limit", lambda ix: ix.search(GOOD, knnx.MAX_K + 1), ValueError,
     rf"k must be in \[1, {knnx.MAX_K}\], got {knnx.MAX_K + 1}", ""),
    ("search wrong dims", lambda ix: ix.search(np.ones((2, 3), np.float32), 1), ValueError,
     r"queries has 3 columns", ""),
    ("search NaN", lambda ix: ix.search(with_value(2, 5, np.nan), 3), ValueError,
     r"queries contains a non-finite value \(nan\) at row 2, column 5", ""),
    ("search -Inf", lambda ix: ix.search(with_value(1, 0, -np.inf), 3), ValueError,
     r"queries contains a non-finite value \(-inf\) at row 1, column 0", ""),
    ("search before train", lambda ix: ix.search(GOOD, 3), ValueError,
     r"the index must be trained before search", "untrained ivf"),
    ("n_probe = 0", set_n_probe(0), ValueError, r"n_probe must be >= 1, got 0", "ivf"),
    ("n_probe = -2", set_n_probe(-2), ValueError, r"n_probe must be >= 1, got -2", "ivf"),
    ("remove_ids of absent ids", lambda ix: ix.remove_ids([5000, 1 << 30]) == 0 or 1 / 0, None,
     "", ""),
    ("reconstruct absent id", lambda ix: ix.reconstruct(N_BASE + 7), ValueError,
     r"id 207 is not stored in the index", ""),
]

# Layouts that are not refused: converted once, with the same answer as a C-contiguous copy.
LAYOUTS = [
    ("Fortran order", fortran_view),
    ("every other column", lambda: np.ascontiguousarray(
        np.random.default_rng(4).standard_normal((4, 2 * D)).astype(np.float32))[:, ::2]),
    ("every other row", lambda: np.random.default_rng(5).standard_normal((8, D)).astype(
        np.float32)[::2]),
    ("float64", lambda: np.random.default_rng(6).standard_normal((4, D))),
    ("int32", lambda: np.arange(4 * D, dtype=np.int32).reshape(4, D)),
]

SETUPS = [
    pytest.param("flat", "cpu", id="FlatCpu"),
    pytest.param("ivf", "cpu", id="IvfCpu"),
    pytest.param("flat", "cuda", id="FlatCuda", marks=pytest.mark.gpu),
    pytest.param("ivf", "cuda", id="IvfCuda", marks=pytest.mark.gpu),
]


@pytest.mark.parametrize("kind,device", SETUPS)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_and_leaves_the_index_unchanged(kind, device, case):
    _, call, exc, pattern, flags = case
    if "ivf" in flags.split() and kind != "ivf":
        pytest.skip("an IndexIVFFlat case")
    index = make_index(kind, device, trained="untrained" not in flags.split())
    before = snapshot(index)
    if exc is None:
        call(index)
    else:
        with pytest.raises(exc, match=pattern):
            call(index)
    assert snapshot(index) == before


@pytest.mark.parametrize("kind,device", SETUPS)
@pytest.mark.parametrize("layout", LAYOUTS, ids=[c[0] for c in LAYOUTS])
def test_non_contiguous_and_other_dtypes_match_a_contiguous_float32_copy(kind, device, layout):
    x = layout[1]()
    assert not (x.flags.c_contiguous and x.dtype == np.float32)
    copy = np.ascontiguousarray(x, dtype=np.float32)
    a, b = make_index(kind, device), make_index(kind, device)
    a.add(x)
    b.add(copy)
    assert snapshot(a) == snapshot(b)
    np.testing.assert_array_equal(a.search(x, 5)[1], b.search(copy, 5)[1])


needs_index_files = pytest.mark.skipif(not hasattr(knnx, "read_index"),
                                       reason="this build of knnx has no read_index")


@needs_index_files
@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_file_errors(tmp_path, kind):
    index = make_index(kind, "cpu")
    (tmp_path / "dir.knnx").mkdir()
    (tmp_path / "dir.npy").mkdir()
    (tmp_path / "empty.knnx").write_bytes(b"")
    cases = [
        ("read directory", lambda: knnx.read_index(str(tmp_path / "dir.knnx")), knnx.IoError,
         "it is a directory"),
        ("read missing", lambda: knnx.read_index(str(tmp_path / "missing.knnx")), knnx.IoError,
         "No such file or directory"),
        ("read empty", lambda: knnx.read_index(str(tmp_path / "empty.knnx")), knnx.FormatError,
         "file is empty"),
        ("write over a directory", lambda: knnx.write_index(index, str(tmp_path / "dir.knnx")),
         knnx.IoError, "it is a directory"),
        ("read vectors from a directory", lambda: knnx.read_vectors(str(tmp_path / "dir.npy")),
         knnx.IoError, "it is a directory"),
    ]
    for name, call, exc, pattern in cases:
        with pytest.raises(exc, match=pattern):
            call()
    assert (tmp_path / "dir.knnx").is_dir()


@needs_index_files
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="running as root: file permissions are not enforced")
def test_unreadable_file(tmp_path):
    index = make_index("flat", "cpu")
    path = tmp_path / "locked.knnx"
    knnx.write_index(index, str(path))
    path.chmod(0)
    try:
        with pytest.raises(knnx.IoError, match="Permission denied"):
            knnx.read_index(str(path))
    finally:
        path.chmod(0o600)
