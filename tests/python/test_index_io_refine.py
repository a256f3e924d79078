"""IndexRefineFlat in knnx's index file: write_index / read_index, serialize and pickle give an
index that answers exactly as the saved one, with its base index, k_factor and ids."""

import pickle

import numpy as np
import pytest

import knnx

D = 8


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(31)
    return (rng.standard_normal((500, D)).astype(np.float32),
            rng.standard_normal((20, D)).astype(np.float32))


def filled(spec, xb):
    index = knnx.index_factory(D, spec)
    index.train(xb)
    index.add(xb[:300])
    index.remove_ids(np.array([5, 299], dtype=np.int64))
    index.add_with_ids(xb[300:400], np.arange(9000, 9200, 2, dtype=np.int64))
    index.k_factor = 4.0
    return index


@pytest.mark.parametrize("spec", ["IVF16,PQ4,RFlat", "SQ8,RFlat", "PQ4x4fs,RFlat"])
def test_write_read_and_pickle_answer_as_the_saved_index(data, tmp_path, spec):
    xb, xq = data
    index = filled(spec, xb)
    want_d, want_i = index.search(xq, 7)
    path = tmp_path / "refine.knnx"
    knnx.write_index(index, str(path))
    for loaded in (knnx.read_index(str(path)), pickle.loads(pickle.dumps(index)),
                   knnx.deserialize_index(knnx.serialize_index(index))):
        assert isinstance(loaded, knnx.IndexRefineFlat)
        assert loaded.k_factor == 4.0
        assert loaded.ntotal == 398
        d, i = loaded.search(xq, 7)
        np.testing.assert_array_equal(i, want_i)
        np.testing.assert_array_equal(d, want_d)
        np.testing.assert_array_equal(loaded.reconstruct(9196), xb[398])
    # k_factor per call still goes through.
    loaded = knnx.read_index(str(path))
    params = knnx.SearchParametersRefine(k_factor=8.0)
    np.testing.assert_array_equal(loaded.search(xq, 5, params=params)[1],
                                  index.search(xq, 5, params=params)[1])


def test_damaged_file_is_a_format_error(data, tmp_path):
    xb, _ = data
    path = tmp_path / "refine.knnx"
    knnx.write_index(filled("SQ8,RFlat", xb), str(path))
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 4] ^= 0x10  # inside the nested base index
    path.write_bytes(bytes(raw))
    with pytest.raises(knnx.FormatError):
        knnx.read_index(str(path))
    path.write_bytes(bytes(raw[: len(raw) // 2]))
    with pytest.raises(knnx.FormatError):
        knnx.read_index(str(path))


@pytest.mark.parametrize("spec", ["IVF4,Flat,RFlat", "Flat,RFlat", "IDMap2,IVF4,Flat,RFlat"])
def test_faiss_index_refine_flat_files_load_with_equal_results(data, tmp_path, spec):
    faiss = pytest.importorskip("faiss")
    xb, xq = data
    if spec.startswith("IDMap2,"):
        index = faiss.IndexIDMap2(faiss.index_factory(D, spec[len("IDMap2,"):]))
        index.train(xb)
        index.add_with_ids(xb[:200], np.arange(5000, 5400, 2, dtype=np.int64))
        faiss.downcast_index(index.index).k_factor = 3.0
    else:
        index = faiss.index_factory(D, spec)
        index.train(xb)
        index.add(xb[:200])
        index.k_factor = 3.0
    path = tmp_path / "refine.faiss"
    faiss.write_index(index, str(path))
    loaded = knnx.read_index(str(path))
    want_d, want_i = index.search(xq, 5)
    got_d, got_i = loaded.search(xq, 5)
    np.testing.assert_array_equal(got_i, want_i)
    np.testing.assert_allclose(got_d, want_d, rtol=1e-5, atol=1e-5)
    raw = path.read_bytes()
    path.write_bytes(raw[:-2])  # k_factor cut short
    with pytest.raises(knnx.FormatError):
        knnx.read_index(str(path))
