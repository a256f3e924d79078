"""Concurrent use of one index from Python threads (the GIL is released during search)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import knnx

N_THREADS = 8


def test_concurrent_searches_match_serial(rng):
    xb = rng.standard_normal((20_000, 32)).astype(np.float32)
    queries = [rng.standard_normal((64, 32)).astype(np.float32) for _ in range(N_THREADS)]
    for metric in ("l2", "ip"):
        index = knnx.IndexFlat(32, metric)
        index.add(xb)
        serial = [index.search(q, 20) for q in queries]
        barrier = threading.Barrier(N_THREADS)

        def work(t):
            barrier.wait()  # start together so the searches overlap
            return [index.search(queries[t], 20) for _ in range(5)]

        with ThreadPoolExecutor(N_THREADS) as pool:
            results = list(pool.map(work, range(N_THREADS)))
        for t in range(N_THREADS):
            for D, I in results[t]:
                np.testing.assert_array_equal(I, serial[t][1])
                np.testing.assert_array_equal(D, serial[t][0])


def test_searches_run_while_another_thread_adds(rng):
    # Writers take the index exclusively, so every search sees the index either before or
    # after each add: its labels are ids that were stored at some point, and the final state
    # holds every vector.
    d = 16
    chunks = [rng.standard_normal((500, d)).astype(np.float32) for _ in range(20)]
    index = knnx.IndexFlat(d)
    index.add(chunks[0])
    q = rng.standard_normal((10, d)).astype(np.float32)
    stop = threading.Event()
    errors = []

    def searcher():
        try:
            while not stop.is_set():
                D, I = index.search(q, 10)
                assert (I >= 0).all() and (I < 500 * len(chunks)).all()
                assert np.all(np.diff(D, axis=1) >= 0)
        except Exception as e:  # reported to the main thread
            errors.append(e)

    threads = [threading.Thread(target=searcher) for _ in range(4)]
    for t in threads:
        t.start()
    for chunk in chunks[1:]:
        index.add(chunk)
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert index.ntotal == 500 * len(chunks)
    np.testing.assert_array_equal(index.vectors(), np.concatenate(chunks))
