"""IndexFlat on the CPU against a float64 brute force, and the index's bookkeeping."""

import sys

import numpy as np
import pytest

import knnx
from fake_tqdm import install_fake_tqdm
from knn_reference import assert_knn_equal, brute_force

SHAPES = [  # (n, d, nq, k)
    (1, 1, 1, 1),
    (50, 1, 7, 5),
    (100, 3, 10, 10),
    (1000, 64, 20, 10),
    (500, 17, 33, 100),
    (300, 128, 5, 1),
    (2000, 8, 3, 2048),
]


@pytest.mark.parametrize("metric", ["l2", "ip"])
@pytest.mark.parametrize("n,d,nq,k", SHAPES)
def test_matches_brute_force(rng, metric, n, d, nq, k):
    xb = rng.standard_normal((n, d)).astype(np.float32)
    xq = rng.standard_normal((nq, d)).astype(np.float32)
    index = knnx.IndexFlat(d, metric=metric)
    index.add(xb)
    assert index.ntotal == n and len(index) == n
    D, I = index.search(xq, k)
    assert_knn_equal(D, I, xb, xq, k, metric)


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_small_blocks_match_brute_force(rng, restore_config, metric):
    # Tiny blocks force many query and base blocks and merges across them.
    knnx.set_config(cpu_query_block=3, cpu_base_block=16)
    xb = rng.standard_normal((997, 24)).astype(np.float32)
    xq = rng.standard_normal((41, 24)).astype(np.float32)
    index = knnx.IndexFlat(24, metric)
    index.add(xb)
    D, I = index.search(xq, 37)
    assert_knn_equal(D, I, xb, xq, 37, metric)


@pytest.mark.parametrize("metric,empty", [("l2", np.inf), ("ip", -np.inf)])
def test_k_larger_than_ntotal_pads(rng, metric, empty):
    xb = rng.standard_normal((5, 4)).astype(np.float32)
    xq = rng.standard_normal((3, 4)).astype(np.float32)
    index = knnx.IndexFlat(4, metric)
    index.add(xb)
    D, I = index.search(xq, 8)
    assert_knn_equal(D, I, xb, xq, 8, metric)
    assert (I[:, 5:] == -1).all()
    assert (D[:, 5:] == empty).all()
    assert sorted(I[0, :5]) == [0, 1, 2, 3, 4]


def test_add_with_ids_returns_the_ids(rng):
    xb = rng.standard_normal((200, 16)).astype(np.float32)
    xq = rng.standard_normal((10, 16)).astype(np.float32)
    ids = rng.permutation(10_000)[:200].astype(np.int64) + 1000
    index = knnx.IndexFlat(16)
    index.add_with_ids(xb, ids)
    D, I = index.search(xq, 7)
    assert_knn_equal(D, I, xb, xq, 7, "l2", ids=ids)
    np.testing.assert_array_equal(index.ids(), ids)
    np.testing.assert_array_equal(index.vectors(), xb)


def test_add_assigns_ids_past_the_largest_ever_held(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    index = knnx.IndexFlat(3)
    index.add_with_ids(x[:2], [10, 20])
    index.remove_ids([20])
    index.add(x[2:])
    np.testing.assert_array_equal(index.ids(), [10, 21, 22])


def test_integer_ids_of_any_width(rng):
    x = rng.standard_normal((3, 2)).astype(np.float32)
    for dtype in (np.int8, np.uint16, np.int32, np.uint64):
        index = knnx.IndexFlat(2)
        index.add_with_ids(x, np.array([7, 3, 5], dtype=dtype))
        np.testing.assert_array_equal(index.ids(), [7, 3, 5])
        assert index.ids().dtype == np.int64


def test_remove_ids(rng):
    xb = rng.standard_normal((300, 8)).astype(np.float32)
    xq = rng.standard_normal((20, 8)).astype(np.float32)
    index = knnx.IndexFlat(8)
    index.add(xb)
    remove = np.array([0, 5, 5, 299, 150, 12345, 77])  # a repeat and an absent id
    assert index.remove_ids(remove) == 5
    assert index.ntotal == 295
    keep = np.setdiff1d(np.arange(300), remove)
    D, I = index.search(xq, 10)
    assert not np.isin(I, remove).any()
    assert_knn_equal(D, I, xb[keep], xq, 10, "l2", ids=keep)
    assert index.remove_ids([]) == 0
    assert index.remove_ids(np.array([], dtype=np.int64)) == 0
    assert index.remove_ids(3) == 1  # a scalar id
    assert index.ntotal == 294


def test_reconstruct(rng):
    xb = rng.standard_normal((50, 12))  # float64: stored as float32
    index = knnx.IndexFlat(12)
    index.add_with_ids(xb, np.arange(50) * 3)
    v = index.reconstruct(9)
    assert v.shape == (12,) and v.dtype == np.float32
    np.testing.assert_array_equal(v, xb[3].astype(np.float32))
    np.testing.assert_array_equal(index.reconstruct(np.int64(147)), xb[49].astype(np.float32))
    with pytest.raises(ValueError, match="10"):
        index.reconstruct(10)


def test_reset_keeps_the_index_usable(rng):
    x = rng.standard_normal((20, 5)).astype(np.float32)
    index = knnx.IndexFlat(5, "ip")
    index.add(x)
    index.reset()
    assert index.ntotal == 0 and index.is_trained
    assert index.vectors().shape == (0, 5) and index.ids().shape == (0,)
    index.add(x[:3])
    D, I = index.search(x[:1], 5)
    np.testing.assert_array_equal(index.ids(), [0, 1, 2])  # a reset index numbers from 0
    assert sorted(I[0, :3]) == [0, 1, 2]
    assert (I[0, 3:] == -1).all()


def test_float64_fortran_strided_and_integer_inputs_give_the_same_results(rng):
    xb = rng.standard_normal((400, 32)).astype(np.float32)
    xq = rng.standard_normal((15, 32)).astype(np.float32)
    reference = knnx.IndexFlat(32)
    reference.add(xb)
    D0, I0 = reference.search(xq, 10)

    wide = np.zeros((400, 64), dtype=np.float32)
    wide[:, ::2] = xb
    variants = [
        (xb.astype(np.float64), xq.astype(np.float64)),
        (np.asfortranarray(xb), np.asfortranarray(xq)),
        (np.asfortranarray(xb.astype(np.float64)), np.asfortranarray(xq.astype(np.float64))),
        (wide[:, ::2], xq[::-1][::-1]),       # non-contiguous columns
        (xb[::-1][::-1].copy(), xq.tolist()),  # a nested list is accepted too
    ]
    for base, queries in variants:
        index = knnx.IndexFlat(32)
        index.add(base)
        np.testing.assert_array_equal(index.vectors(), xb)
        D, I = index.search(queries, 10)
        np.testing.assert_array_equal(I, I0)
        np.testing.assert_array_equal(D, D0)

    ints = rng.integers(-50, 50, size=(100, 6))
    index = knnx.IndexFlat(6)
    index.add(ints.astype(np.int16))
    np.testing.assert_array_equal(index.vectors(), ints.astype(np.float32))


def test_reversed_rows_are_read_in_order(rng):
    xb = rng.standard_normal((30, 4)).astype(np.float32)
    index = knnx.IndexFlat(4)
    index.add(xb[::-1])
    np.testing.assert_array_equal(index.vectors(), xb[::-1])


def test_one_dimensional_input_is_one_vector(rng):
    xb = rng.standard_normal((10, 6)).astype(np.float32)
    index = knnx.IndexFlat(6)
    index.add(xb)
    index.add(xb[3])  # a single vector gets the next id
    D, I = index.search(xb[3], 2)
    assert D.shape == I.shape == (1, 2)
    assert set(I[0]) == {3, 10}
    np.testing.assert_allclose(D[0], 0.0, atol=1e-5)


def test_d_equal_one(rng):
    xb = rng.standard_normal((100, 1)).astype(np.float32)
    xq = rng.standard_normal((9, 1)).astype(np.float32)
    for metric in ("l2", "ip"):
        index = knnx.IndexFlat(1, metric)
        index.add(xb)
        D, I = index.search(xq, 6)
        assert_knn_equal(D, I, xb, xq, 6, metric)


def test_metric_spellings_and_faiss_classes(rng):
    xb = rng.standard_normal((60, 5)).astype(np.float32)
    xq = rng.standard_normal((4, 5)).astype(np.float32)
    for metric, spellings, cls in [
        ("l2", ["l2", "L2", "euclidean", knnx.Metric.L2, knnx.METRIC_L2], knnx.IndexFlatL2),
        ("ip", ["ip", "inner_product", "dot", knnx.Metric.INNER_PRODUCT,
                knnx.METRIC_INNER_PRODUCT], knnx.IndexFlatIP),
    ]:
        expected = brute_force(xb, xq, 3, metric)[1]
        indexes = [knnx.IndexFlat(5, s) for s in spellings]
        indexes += [cls(5), knnx.index_factory(5, "Flat", metric=metric)]
        for index in indexes:
            assert index.metric == knnx.parse_metric(metric)
            index.add(xb)
            np.testing.assert_array_equal(index.search(xq, 3)[1], expected)


def test_properties_and_repr():
    index = knnx.IndexFlat(7, "ip")
    assert index.d == 7
    assert index.metric == knnx.Metric.INNER_PRODUCT
    assert index.device == "cpu"
    assert index.is_trained
    assert index.precision == knnx.FlatPrecision.EXACT
    assert isinstance(index, knnx.Index)
    assert repr(index) == "IndexFlat(d=7, metric='ip', device='cpu', ntotal=0)"
    index.train(np.zeros((3, 7), np.float32))  # exact search learns nothing
    assert index.ntotal == 0


def test_fast_precision_is_exact_on_the_cpu(rng):
    xb = rng.standard_normal((500, 16)).astype(np.float32)
    xq = rng.standard_normal((8, 16)).astype(np.float32)
    index = knnx.IndexFlat(16)
    index.add(xb)
    D0, I0 = index.search(xq, 10)
    index.precision = "fast"
    assert index.precision == knnx.FlatPrecision.FAST
    D1, I1 = index.search(xq, 10)
    np.testing.assert_array_equal(I0, I1)
    np.testing.assert_array_equal(D0, D1)


def test_results_are_independent_arrays(rng):
    xb = rng.standard_normal((20, 3)).astype(np.float32)
    index = knnx.IndexFlat(3)
    index.add(xb)
    D, I = index.search(xb[:2], 4)
    assert D.flags.c_contiguous and D.flags.writeable and D.flags.owndata is False
    v = index.vectors()
    v[:] = 0  # a copy: the index is unaffected
    np.testing.assert_array_equal(index.vectors(), xb)
    del index
    assert D.sum() == D.sum()  # the result arrays outlive the index


class _FakeBar:
    def __init__(self, total, desc, unit):
        self.total, self.updates, self.closed = total, [], False
        _FakeBar.last = self

    def update(self, n):
        self.updates.append(n)

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):
    install_fake_tqdm(monkeypatch, _FakeBar)
    return _FakeBar


def test_verbose_add_goes_in_chunks_with_progress(rng, fake_tqdm):
    xb = rng.standard_normal((1000, 8))
    index = knnx.IndexFlat(8)
    index.add(xb, verbose=True, chunk_size=300)
    assert fake_tqdm.last.updates == [300, 300, 300, 100] and fake_tqdm.last.closed
    index.add_with_ids(xb[:10], np.arange(5000, 5010), verbose=True, chunk_size=4)
    assert fake_tqdm.last.updates == [4, 4, 2]
    plain = knnx.IndexFlat(8)
    plain.add(xb)
    plain.add_with_ids(xb[:10], np.arange(5000, 5010))
    np.testing.assert_array_equal(index.vectors(), plain.vectors())
    np.testing.assert_array_equal(index.ids(), plain.ids())


def test_failed_verbose_add_leaves_the_index_unchanged(rng, fake_tqdm):
    xb = rng.standard_normal((100, 4)).astype(np.float32)
    index = knnx.IndexFlat(4)
    index.add(xb[:10])
    bad = xb.copy()
    bad[75, 2] = np.nan
    with pytest.raises(ValueError, match=r"rows 60:90 of x.*row 15, column 2"):
        index.add(bad, verbose=True, chunk_size=30)
    assert index.ntotal == 10
    np.testing.assert_array_equal(index.ids(), np.arange(10))
    ids = np.arange(100, 200)
    ids[50] = 3  # already stored: the second chunk fails
    with pytest.raises(ValueError, match="3"):
        index.add_with_ids(xb, ids, verbose=True, chunk_size=30)
    np.testing.assert_array_equal(index.ids(), np.arange(10))
    np.testing.assert_array_equal(index.vectors(), xb[:10])


def test_verbose_without_tqdm_reports_on_stderr(rng, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    xb = rng.standard_normal((50, 4)).astype(np.float32)
    index = knnx.IndexFlat(4)
    index.add(xb, verbose=True, chunk_size=7)
    np.testing.assert_array_equal(index.vectors(), xb)
    np.testing.assert_array_equal(index.ids(), np.arange(50))
    assert "knnx add: 50/50 vec (100%" in capsys.readouterr().err
    with pytest.raises(ValueError, match="chunk_size"):
        index.add(xb, verbose=True, chunk_size=0)
