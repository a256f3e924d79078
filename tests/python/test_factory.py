"""index_factory and its description parser."""

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


@pytest.mark.parametrize("description", ["IVF1024,Flat", "PCA64,IVF1024,Flat", "PCA32,Flat"])
def test_well_formed_but_unsupported(description):
    with pytest.raises(ValueError, match=rf"'{description.split(',')[0]}' in '{description}' "
                                         r"is not supported by knnx"):
        knnx.index_factory(128, description)


@pytest.mark.parametrize("description,pattern", [
    ("", "empty component"),
    ("IVF1024,,Flat", "empty component"),
    ("HNSW32", r"must end with a storage component \(Flat\), got 'HNSW32'"),
    ("IVF1024", "must end with a storage component"),
    ("IVF0,Flat", "nlist must be >= 1, got 0"),
    ("PCA0,Flat", "output dimension must be >= 1"),
    ("IVF10,IVF20,Flat", "two coarse quantizers"),
    ("IVF10,PCA8,Flat", "transform 'PCA8' must come before the coarse quantizer 'IVF10'"),
    ("LSH,Flat", "unknown component 'LSH'"),
    ("flat", "must end with a storage component"),
])
def test_malformed(description, pattern):
    with pytest.raises(ValueError, match=pattern):
        knnx.index_factory(16, description)


def test_bad_arguments_reach_the_index():
    with pytest.raises(ValueError, match="d must be in"):
        knnx.index_factory(0, "Flat")
    with pytest.raises(ValueError, match="metric"):
        knnx.index_factory(4, "Flat", metric="hamming")
    with pytest.raises(ValueError, match="description must be a str"):
        knnx.index_factory(4, None)
