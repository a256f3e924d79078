"""The FAISS API on knnx: each check makes the same calls on faiss and on knnx and compares
what they return (labels identical as sets per query, distances within float tolerance) or
that both refuse. GPU variants run the knnx side on device="cuda" and skip without a GPU."""

import numpy as np
import pytest

import knnx

faiss = pytest.importorskip("faiss")

D, NB, NQ, K, NLIST = 16, 2000, 20, 10, 32
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]


@pytest.fixture
def data(rng):
    xb = rng.standard_normal((NB, D)).astype(np.float32)
    xq = rng.standard_normal((NQ, D)).astype(np.float32)
    return xb, xq


def assert_same(res, ref):
    """Same label set per query and distances within float tolerance."""
    (Dk, Ik), (Df, If) = res, ref
    Dk, Ik = np.asarray(Dk), np.asarray(Ik)
    np.testing.assert_allclose(Dk, Df, rtol=1e-5, atol=1e-4)
    for row_k, row_f in zip(Ik, If):
        assert set(row_k.tolist()) == set(row_f.tolist())


def ivf_pair(xb, metric, device="cpu"):
    """A trained faiss IndexIVFFlat and a knnx one built with FAISS's constructor form on a
    quantizer holding the same centroids, so both assign vectors to the same lists."""
    ref = faiss.IndexIVFFlat(faiss.IndexFlat(D, metric), D, NLIST, metric)
    ref.train(xb)
    quantizer = knnx.IndexFlat(D, metric, device)
    quantizer.add(ref.quantizer.reconstruct_n(0, NLIST))
    index = knnx.IndexIVFFlat(quantizer, D, NLIST)
    assert index.is_trained and index.metric_type == metric
    return ref, index


def test_metric_codes_are_faiss_codes():
    assert (knnx.METRIC_L2, knnx.METRIC_INNER_PRODUCT) == (faiss.METRIC_L2,
                                                             faiss.METRIC_INNER_PRODUCT)
    for code in (faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT):
        assert knnx.IndexFlat(4, code).metric_type == faiss.IndexFlat(4, code).metric_type
        assert knnx.index_factory(4, "IVF8,Flat", code).metric_type == code
    with pytest.raises(ValueError, match="METRIC_L2"):
        knnx.IndexFlat(4, 7)
    with pytest.raises(ValueError):
        knnx.index_factory(4, "Flat", -1)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", [faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT])
def test_flat_constructors(data, device, metric):
    xb, xq = data
    cls = "IndexFlatL2" if metric == faiss.METRIC_L2 else "IndexFlatIP"
    ref = getattr(faiss, cls)(D)
    kwargs = {} if device == "cpu" else {"device": device}
    for index in (getattr(knnx, cls)(D, **kwargs), knnx.IndexFlat(D, metric, **kwargs),
                  knnx.index_factory(D, "Flat", metric, **kwargs)):
        ref.reset()
        for i in (ref, index):
            i.add(xb)
        assert (index.d, index.ntotal, index.is_trained, index.metric_type) == (
            ref.d, ref.ntotal, ref.is_trained, ref.metric_type)
        assert_same(index.search(xq, K), ref.search(xq, K))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", [faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT])
def test_ivf_with_nprobe(data, device, metric):
    xb, xq = data
    ref, index = ivf_pair(xb, metric, device)
    ref.add(xb)
    index.add(xb)
    assert (index.nlist, index.ntotal) == (ref.nlist, ref.ntotal)
    for nprobe in (1, 4, NLIST):
        ref.nprobe = index.nprobe = nprobe
        assert index.nprobe == index.n_probe == nprobe
        assert_same(index.search(xq, K), ref.search(xq, K))


def test_clamped_nprobe_searches_all_lists(data):
    xb, xq = data
    ref, index = ivf_pair(xb, faiss.METRIC_L2)
    ref.add(xb)
    index.add(xb)
    ref.nprobe = index.nprobe = 10 * NLIST  # both accept it and scan every list
    assert_same(index.search(xq, K), ref.search(xq, K))
    # FAISS reads back the value set, knnx the value in force (docs/coming-from-faiss.md).
    assert (ref.nprobe, index.nprobe) == (10 * NLIST, NLIST)
    for bad in (0, -3):
        with pytest.raises(ValueError):
            index.nprobe = bad


def test_unknown_attributes_are_refused():
    with pytest.raises(AttributeError):
        faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, NLIST).nprob = 8
    index = knnx.IndexIVFFlat(knnx.IndexFlatL2(D), D, NLIST)
    with pytest.raises(AttributeError, match="did you mean 'nprobe'"):
        index.nprob = 8
    with pytest.raises(AttributeError, match="did you mean 'ntotal'"):
        index.ntotl
    with pytest.raises(AttributeError, match="did you mean 'n_iter'"):
        index.kmeans_params.n_iters = 3
    with pytest.raises(AttributeError):
        knnx.IndexFlatL2(D).nprobe = 8  # not an IVF index
    index.verbose = True  # FAISS's verbose is a real setting
    assert index.verbose and not knnx.IndexFlatL2(D).verbose
    # Nested settings are live (the index's own) or refuse assignment.
    index.kmeans_params.n_iter = 5
    assert index.kmeans_params.n_iter == 5
    with pytest.raises(AttributeError, match="fixed at construction"):
        knnx.KMeans(D, 4).params.n_iter = 5


def test_ivf_quantizer_must_match():
    with pytest.raises(ValueError, match="metric"):
        knnx.IndexIVFFlat(knnx.IndexFlatL2(D), D, NLIST, knnx.METRIC_INNER_PRODUCT)
    with pytest.raises(ValueError, match="d = 8"):
        knnx.IndexIVFFlat(knnx.IndexFlatL2(8), D, NLIST)
    ip = knnx.IndexIVFFlat(knnx.IndexFlatIP(D), D, NLIST)
    assert ip.metric_type == faiss.METRIC_INNER_PRODUCT and not ip.is_trained


def test_reconstruct_and_reconstruct_n(data):
    xb, _ = data
    ref, index = faiss.IndexFlatL2(D), knnx.IndexFlatL2(D)
    for i in (ref, index):
        i.add(xb)
    np.testing.assert_array_equal(index.reconstruct(17), ref.reconstruct(17))
    np.testing.assert_array_equal(index.reconstruct_n(5, 9), ref.reconstruct_n(5, 9))
    assert index.reconstruct_n(3, 0).shape == ref.reconstruct_n(3, 0).shape == (0, D)
    with pytest.raises(ValueError):
        index.reconstruct_n(NB - 2, 5)
    with pytest.raises(RuntimeError):
        ref.reconstruct_n(NB - 2, 5)
    # More vectors than the index holds: refused before anything of that size is allocated.
    with pytest.raises(ValueError, match="more than the"):
        index.reconstruct_n(0, 10**12)


@pytest.mark.parametrize("cls", ["IndexIDMap", "IndexIDMap2"])
def test_id_map(data, cls):
    xb, xq = data
    ids = np.arange(NB, dtype=np.int64) * 3 + 100
    ref, index = getattr(faiss, cls)(faiss.IndexFlatL2(D)), getattr(knnx, cls)(knnx.IndexFlatL2(D))
    for i in (ref, index):
        with pytest.raises(RuntimeError):
            i.add(xb)  # both take vectors with ids only
        i.add_with_ids(xb, ids)
    assert_same(index.search(xq, K), ref.search(xq, K))
    np.testing.assert_array_equal(index.id_map, faiss.vector_to_array(ref.id_map))
    if cls == "IndexIDMap2":
        np.testing.assert_array_equal(index.reconstruct(103), ref.reconstruct(103))
    assert index.remove_ids(ids[:10]) == ref.remove_ids(ids[:10])
    assert_same(index.search(xq, K), ref.search(xq, K))
    with pytest.raises(ValueError):
        knnx.IndexIDMap(index.index)  # must wrap an empty index


def test_serialize_round_trip(data):
    xb, xq = data
    ref, index = ivf_pair(xb, faiss.METRIC_L2)
    ref.add(xb)
    index.add(xb)
    ref.nprobe = index.nprobe = 4
    blob, ref_blob = knnx.serialize_index(index), faiss.serialize_index(ref)
    assert blob.dtype == ref_blob.dtype == np.uint8 and blob.ndim == 1
    assert_same(knnx.deserialize_index(blob).search(xq, K),
                faiss.deserialize_index(ref_blob).search(xq, K))
    with pytest.raises(TypeError):
        knnx.deserialize_index(blob.astype(np.int32))
    with pytest.raises(knnx.FormatError):
        knnx.deserialize_index(blob[:40])


def test_normalize_L2_in_place(data):
    xb, _ = data
    x, y = xb[:50].copy(), xb[:50].copy()
    x[3] = 0  # a zero row stays zero in both
    y[3] = 0
    faiss.normalize_L2(x)
    knnx.normalize_L2(y)
    np.testing.assert_allclose(y, x, rtol=1e-6, atol=1e-6)
    with pytest.raises(TypeError):
        knnx.normalize_L2(xb.astype(np.float64))
    with pytest.raises(ValueError):
        knnx.normalize_L2(np.asfortranarray(xb))


@pytest.mark.parametrize("metric", [faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT])
def test_knn(data, metric):
    xb, xq = data
    assert_same(knnx.knn(xq, xb, K, metric), faiss.knn(xq, xb, K, metric))


def test_thread_count():
    before = knnx.omp_get_max_threads()
    try:
        knnx.omp_set_num_threads(1)
        assert knnx.omp_get_max_threads() == 1
        with pytest.raises(ValueError):
            knnx.omp_set_num_threads(-1)
    finally:
        knnx.set_config(num_threads=0)
    assert knnx.omp_get_max_threads() == before


FAISS_FILES = ["Flat", "IVF16,Flat", "PCA8,Flat", "PCAW8,IVF16,Flat", "PCAR8,Flat", "RR16,Flat",
               "OPQ4,Flat", "L2norm,Flat", "L2norm,PCA12,IVF8,Flat"]


FAISS_CASES = ([(spec, None) for spec in FAISS_FILES]
               + [(spec, wrap) for spec in ("Flat", "IVF16,Flat", "PCA8,IVF16,Flat")
                  for wrap in ("IndexIDMap", "IndexIDMap2")])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("metric", [faiss.METRIC_L2, faiss.METRIC_INNER_PRODUCT])
@pytest.mark.parametrize("spec,wrap", FAISS_CASES)
def test_read_index_opens_faiss_files(data, tmp_path, device, metric, spec, wrap):
    xb, xq = data
    if spec.startswith("OPQ"):  # FAISS's OPQ matrix, with few iterations to keep the test short
        opq = faiss.OPQMatrix(D, 4)
        opq.niter, opq.niter_pq = 2, 1
        ref = faiss.IndexPreTransform(opq, faiss.IndexFlat(D, metric))
        ref.train(xb[:512])
    else:
        ref = faiss.index_factory(D, spec, metric)
        ref.train(xb)
    if wrap:
        ref = getattr(faiss, wrap)(ref)
        ref.add_with_ids(xb, np.arange(NB, dtype=np.int64) * 5 + 1)
    else:
        ref.add(xb)
    if "IVF" in spec:
        faiss.extract_index_ivf(ref).nprobe = 3
    path = str(tmp_path / "faiss.index")
    faiss.write_index(ref, path)
    index = knnx.read_index(path, device)
    assert (index.d, index.ntotal, index.metric_type) == (ref.d, ref.ntotal, ref.metric_type)
    assert_same(index.search(xq, K), ref.search(xq, K))
    # Saved again in knnx's format, it answers the same.
    knnx.write_index(index, str(tmp_path / "knnx.index"))
    assert_same(knnx.read_index(str(tmp_path / "knnx.index")).search(xq, K), ref.search(xq, K))
    # FAISS's serialize_index bytes deserialize too.
    assert_same(knnx.deserialize_index(faiss.serialize_index(ref)).search(xq, K),
                ref.search(xq, K))


@pytest.mark.parametrize("spec,fourcc", [("HNSW8", "IHNf"), ("IVF4,PQ4x4", "IwPQ"),
                                         ("PQ4x4", "IxPq"), ("SQ8", "IxSQ"), ("LSH", "IxHe")])
def test_other_faiss_types_are_named(data, tmp_path, spec, fourcc):
    xb, _ = data
    ref = faiss.index_factory(D, spec)
    ref.train(xb[:256])
    path = str(tmp_path / "faiss.index")
    faiss.write_index(ref, path)
    with pytest.raises(knnx.NotSupported, match=f"'{fourcc}'"):
        knnx.read_index(path)


@pytest.mark.parametrize("spec", ["Flat", "SQ8,RFlat"])
def test_read_index_with_io_flag_mmap(data, tmp_path, spec):
    """read_index(path, IO_FLAG_MMAP) on each library's own file answers as the index did, and
    the mapped index refuses add in both; knnx maps only knnx files and says so for FAISS's."""
    xb, xq = data
    assert (knnx.IO_FLAG_MMAP, knnx.IO_FLAG_READ_ONLY) == (faiss.IO_FLAG_MMAP,
                                                           faiss.IO_FLAG_READ_ONLY)
    ref = faiss.index_factory(D, spec)
    ref.train(xb)
    ref.add(xb)
    faiss_path, knnx_path = str(tmp_path / "faiss.index"), str(tmp_path / "knnx.index")
    faiss.write_index(ref, faiss_path)
    index = knnx.index_factory(D, spec)
    index.train(xb)
    index.add(xb)
    knnx.write_index(index, knnx_path)
    mapped_ref = faiss.read_index(faiss_path, faiss.IO_FLAG_MMAP)
    mapped = knnx.read_index(knnx_path, knnx.IO_FLAG_MMAP)
    assert (mapped.d, mapped.ntotal) == (mapped_ref.d, mapped_ref.ntotal)
    assert_same(mapped_ref.search(xq, K), ref.search(xq, K))
    assert_same(mapped.search(xq, K), index.search(xq, K))
    if spec == "Flat":  # exact search: both libraries give the same neighbours
        assert_same(mapped.search(xq, K), mapped_ref.search(xq, K))
    with pytest.raises(knnx.NotSupported):
        mapped.add(xb[:1])
    with pytest.raises(knnx.NotSupported, match="FAISS index file cannot be memory-mapped"):
        knnx.read_index(faiss_path, knnx.IO_FLAG_MMAP)
    if spec == "Flat":  # without the flag, FAISS's file opens (its reader has no SQ codes)
        assert_same(knnx.read_index(faiss_path).search(xq, K), ref.search(xq, K))


def test_damaged_faiss_files_are_refused(data, tmp_path):
    xb, _ = data
    ref = faiss.IndexIVFFlat(faiss.IndexFlatL2(D), D, 4)
    ref.train(xb)
    ref.add(xb[:100])
    blob = faiss.serialize_index(ref).tobytes()
    path = tmp_path / "cut.index"
    for cut in (3, 10, 40, 60, 200, len(blob) // 2, len(blob) - 1):
        path.write_bytes(blob[:cut])
        with pytest.raises((knnx.FormatError, knnx.NotSupported)):
            knnx.read_index(str(path))
    path.write_bytes(blob + b"\0")
    with pytest.raises(knnx.FormatError, match="1 bytes follow"):
        knnx.read_index(str(path))


def test_faiss_ids_knnx_cannot_hold_are_refused(data, tmp_path):
    xb, _ = data
    path = str(tmp_path / "ids.index")
    for ids in ([5, 2**63 - 1], [5, -7], [3, 3]):
        ref = faiss.IndexIDMap(faiss.IndexFlatL2(D))
        ref.add_with_ids(xb[:2], np.array(ids, dtype=np.int64))
        faiss.write_index(ref, path)
        with pytest.raises(knnx.FormatError, match="outside knnx's ids|stored twice"):
            knnx.read_index(path)


@pytest.mark.parametrize("device", DEVICES)
def test_pickle_and_copy(data, device):
    """pickle.dumps / loads, copy.copy and copy.deepcopy give an independent index with the same
    results, as FAISS's indexes do (on the index's device)."""
    import copy
    import pickle

    xb, xq = data
    ref, index = ivf_pair(xb, faiss.METRIC_L2, device)
    for i in (ref, index):
        i.add(xb)
        i.nprobe = 4
    expected = ref.search(xq, K)
    for copied in (pickle.loads(pickle.dumps(index)), copy.copy(index), copy.deepcopy(index)):
        assert type(copied) is type(index) and str(copied.device) == str(index.device)
        assert copied.nprobe == 4
        assert_same(copied.search(xq, K), expected)
        copied.add(xb[:3])
        assert copied.ntotal == NB + 3 and index.ntotal == NB
    ids = knnx.IndexIDMap(knnx.IndexFlatL2(D))
    ids.add_with_ids(xb[:50], np.arange(50, dtype=np.int64) * 7)
    again = pickle.loads(pickle.dumps(ids))
    np.testing.assert_array_equal(again.search(xq, 3)[1], ids.search(xq, 3)[1])


@pytest.mark.parametrize("spherical", [False, True])
def test_kmeans(rng, spherical):
    """faiss.Kmeans(d, k, **fields) and knnx.Kmeans: the same arguments and attributes
    (centroids, obj, index, assign), index searching the centroids, and objectives of the same
    size (both seed from random rows, so single runs differ: medians over seeds are compared)."""
    centers = rng.standard_normal((10, D)).astype(np.float32) * 4
    x = (centers[rng.integers(0, 10, 3000)] + rng.standard_normal((3000, D))).astype(np.float32)
    finals = {"faiss": [], "knnx": []}
    for seed in range(1, 6):
        for name, lib in (("faiss", faiss), ("knnx", knnx)):
            km = lib.Kmeans(D, 10, niter=12, seed=seed, spherical=spherical)
            final = km.train(x)
            assert km.centroids.shape == (10, D) and km.centroids.dtype == np.float32
            assert 1 <= len(km.obj) <= 12 and final == pytest.approx(km.obj[-1])
            assert km.index.ntotal == 10 and km.index.metric_type == (
                faiss.METRIC_INNER_PRODUCT if spherical else faiss.METRIC_L2)
            dist, labels = km.index.search(x[:50], 1)
            assigned_dist, assigned = km.assign(x[:50])
            np.testing.assert_array_equal(np.ravel(assigned), labels.ravel())
            np.testing.assert_allclose(np.ravel(assigned_dist), dist.ravel(), rtol=1e-4, atol=1e-3)
            if spherical:
                np.testing.assert_allclose(np.linalg.norm(km.centroids, axis=1), 1, rtol=1e-4)
            finals[name].append(final)
    ratio = np.median(finals["knnx"]) / np.median(finals["faiss"])
    assert 0.5 < ratio < 2.0, finals
    with pytest.raises(AttributeError, match="unknown clustering field"):
        knnx.Kmeans(D, 10, nitre=5)
    with pytest.raises(knnx.NotSupported):
        knnx.Kmeans(D, 10, nredo=2)
