"""A verbose (chunked) add is one C++ call under the index's writer lock: all-or-nothing when it
fails part way (the next sequential id included), never interleaved with another thread's add,
and its progress report may read the index. docs/reliability.md lists each case."""

import sys
import threading

import numpy as np
import pytest

import knnx
from fake_tqdm import install_fake_tqdm


def make(kind, d=8):
    if kind == "flat":
        return knnx.IndexFlat(d)
    if kind == "ivf":
        index = knnx.IndexIVFFlat(d, 4)
        index.train(np.random.default_rng(0).standard_normal((200, d)).astype(np.float32))
        index.n_probe = 4
        return index
    if kind == "pretransform":
        return knnx.IndexPreTransform(knnx.L2Normalize(d), knnx.IndexFlat(d))
    return knnx.IndexIDMap(knnx.IndexFlat(d))


class _Interrupted(Exception):
    pass


@pytest.fixture
def failing_bar(monkeypatch):
    """A tqdm whose bar raises on its fail_at-th update (a Ctrl-C part way through), after
    calling on_update(); it records what it saw."""

    class Bar:
        fail_at = None
        on_update = None

        def __init__(self, total, desc, unit):
            self.updates = []
            Bar.last = self

        def update(self, n):
            self.updates.append(n)
            if Bar.on_update is not None:
                Bar.on_update()
            if len(self.updates) == Bar.fail_at:
                raise _Interrupted("stopped part way")

        def close(self):
            pass

    install_fake_tqdm(monkeypatch, Bar)
    return Bar


def state(index, queries):
    D, I = index.search(queries, 16)
    return index.ntotal, D, I


@pytest.mark.parametrize("kind", ["flat", "ivf", "pretransform", "idmap"])
def test_add_stopped_part_way_leaves_the_index_and_its_next_id_unchanged(kind, failing_bar):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 8)).astype(np.float32)
    q = rng.standard_normal((4, 8)).astype(np.float32)
    index, reference = make(kind), make(kind)
    for i in (index, reference):
        i.add_with_ids(x[:10], np.arange(10))
    before = state(index, q)
    seen = []
    failing_bar.on_update = lambda: seen.append(index.ntotal)  # reads the index: no deadlock
    failing_bar.fail_at = 3
    ids = np.arange(1000, 1100)
    with pytest.raises(_Interrupted):
        index.add_with_ids(x, ids, verbose=True, chunk_size=30)
    assert seen == [40, 70, 100]  # three chunks went in, then the report raised
    after = state(index, q)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(after[2], before[2])
    if kind != "idmap":  # IndexIDMap refuses add() without ids
        failing_bar.fail_at = 2
        with pytest.raises(_Interrupted):
            index.add(x, verbose=True, chunk_size=30)
        new = x[50:51]  # not stored: the add above was undone
        index.add(new)
        reference.add(new)
        # The next id is where it was: the row just added got the id the reference gave it.
        assert index.search(new, 1)[1][0, 0] == reference.search(new, 1)[1][0, 0] == 10


def test_a_report_that_changes_the_index_is_refused_and_undone(failing_bar):
    x = np.random.default_rng(2).standard_normal((60, 8)).astype(np.float32)
    index = knnx.IndexFlat(8)
    errors = []

    def change():
        try:
            index.add(x[:1])
        except knnx.InvalidArgument as e:
            errors.append(str(e))
            raise

    failing_bar.on_update = change
    with pytest.raises(knnx.InvalidArgument, match="cannot be changed from a callback"):
        index.add(x, verbose=True, chunk_size=20)
    assert index.ntotal == 0 and len(errors) == 1


def test_verbose_adds_from_two_threads_do_not_interleave(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # stderr lines, not tqdm
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    d, rows, calls = 4, 50, 8
    index = knnx.IndexFlat(d)
    errors = []

    def writer(t):
        try:
            for c in range(calls):
                x = np.zeros((rows, d), np.float32)
                x[:, 0], x[:, 1], x[:, 2] = t, c, np.arange(rows)
                index.add(x, verbose=True, chunk_size=7)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors
    v = index.vectors()
    assert v.shape == (2 * calls * rows, d)
    np.testing.assert_array_equal(index.ids(), np.arange(2 * calls * rows))
    next_call = [0, 0]
    for block in v.reshape(2 * calls, rows, d):
        t, c = int(block[0, 0]), int(block[0, 1])
        assert (block[:, 0] == t).all() and (block[:, 1] == c).all()  # one call's rows only
        np.testing.assert_array_equal(block[:, 2], np.arange(rows))  # in order
        assert c == next_call[t]
        next_call[t] += 1
    assert next_call == [calls, calls]
