"""index_factory and parse_index_spec: the library's factory and description parser seen from
Python."""

import pytest

import knnx


def test_flat():
    index = knnx.index_factory(8, "Flat", metric="ip")
    assert isinstance(index, knnx.IndexFlat)
    assert (index.d, index.metric, index.device) == (8, knnx.Metric.INNER_PRODUCT, "cpu")
    assert knnx.index_factory(3, " Flat ").metric == knnx.Metric.L2


def test_parser_reads_the_full_grammar():
    spec = knnx.parse_index_spec("PCA64,IVF1024,Flat")
    assert [(c.kind, c.params) for c in spec.transforms] == [("PCA", (64,))]
    assert (spec.coarse.kind, spec.coarse.params) == ("IVF", (1024,))
    assert spec.storage.kind == "Flat"
    spec = knnx.parse_index_spec("OPQ16_64,RR64,IVF4096,Flat")
    assert [(c.kind, c.params) for c in spec.transforms] == [("OPQ", (16, 64)), ("RR", (64,))]
    spec = knnx.parse_index_spec("IVF1024,Flat")
    assert spec.transforms == () and spec.coarse.params == (1024,)
    assert knnx.parse_index_spec("Flat").coarse is None


def test_ivf_is_built_by_the_library():
    index = knnx.index_factory(8, " IVF32 , Flat ", metric="ip")
    assert isinstance(index, knnx.IndexIVFFlat)
    assert (index.d, index.n_lists, index.metric) == (8, 32, knnx.Metric.INNER_PRODUCT)


def test_parser_reads_the_transform_names():
    spec = knnx.parse_index_spec("L2norm,PCAWR32,IVF8,Flat")
    assert [(c.kind, c.params) for c in spec.transforms] == [("L2norm", ()), ("PCAWR", (32,))]


# The library's parser (knnx::parse_index_spec) words these; each message names the component.
@pytest.mark.parametrize("description,pattern", [
    ("", "empty component"),
    ("IVF1024,,Flat", "empty component"),
    ("HNSW32", r"the last component must be the storage 'Flat', got 'HNSW32'"),
    ("IVF1024", "the last component must be the storage 'Flat'"),
    ("IVF0,Flat", "'IVF0': the number of lists must be >= 1"),
    ("PCA0,Flat", "output dimension must be >= 1"),
    ("IVF10,IVF20,Flat", "'IVF20' is a second coarse quantizer"),
    ("IVF10,PCA8,Flat", "transform 'PCA8' must come before the coarse quantizer 'IVF10'"),
    ("LSH,Flat", "'LSH' is not a transform or coarse quantizer"),
    ("flat", "the last component must be the storage 'Flat', got 'flat'"),
])
def test_parser_rejects_malformed(description, pattern):
    with pytest.raises(ValueError, match=pattern):
        knnx.parse_index_spec(description)


@pytest.mark.parametrize("description,component", [
    ("HNSW32", "HNSW32"), ("IVF1024", "IVF1024"), ("IVF0,Flat", "IVF0"), ("LSH,Flat", "LSH"),
    ("flat", "flat"), ("IVF10,IVF20,Flat", "IVF20"),
])
def test_factory_names_the_spec_and_component(description, component):
    with pytest.raises(ValueError) as e:
        knnx.index_factory(16, description)
    assert description in str(e.value) and component in str(e.value)
    assert isinstance(e.value, knnx.InvalidArgument)


def test_bad_arguments_reach_the_index():
    with pytest.raises(ValueError, match="d must be in"):
        knnx.index_factory(0, "Flat")
    with pytest.raises(ValueError, match="metric"):
        knnx.index_factory(4, "Flat", metric="hamming")
    with pytest.raises(ValueError, match="description must be a str"):
        knnx.index_factory(4, None)
