"""IndexIDMap / IndexIDMap2: FAISS's id-mapping wrappers.

Every knnx index already stores an int64 id per vector (add_with_ids), so these wrappers hold
no id table of their own: they give a wrapped index FAISS's IndexIDMap behaviour, where add()
without ids is refused and search returns the caller's ids.
"""

from __future__ import annotations

from knnx import _knnx
from knnx._attributes import refuse_unknown_attributes


class IndexIDMap:
    """FAISS's IndexIDMap(index): vectors are added with caller-chosen ids (add_with_ids) and
    search returns those ids. index must be an empty knnx index; it is used through the
    wrapper from then on (index.index). add() raises knnx.NotSupported, as FAISS refuses it.

    Differences from FAISS: ids must be >= 0, unique and not already stored (FAISS accepts
    any int64, duplicates included), since knnx indexes look vectors up by id; reconstruct
    works on IndexIDMap too (FAISS's needs IndexIDMap2). write_index saves the wrapped index,
    whose file keeps the ids, and read_index gives that index back.
    """

    __module__ = "knnx"
    __slots__ = ("index",)

    def __init__(self, index: _knnx.Index) -> None:
        if isinstance(index, IndexIDMap):
            raise ValueError("index is already an IndexIDMap")
        if not isinstance(index, _knnx.Index):
            raise TypeError(f"index must be a knnx index, got {type(index).__name__}")
        if index.ntotal != 0:
            raise ValueError(f"index must be empty, it holds {index.ntotal} vectors")
        object.__setattr__(self, "index", index)

    # The wrapped index's description.
    d = property(lambda self: self.index.d, doc="Vector dimension.")
    metric = property(lambda self: self.index.metric, doc="The knnx.Metric.")
    metric_type = property(lambda self: self.index.metric_type, doc="FAISS's metric code.")
    device = property(lambda self: self.index.device, doc="Where the index lives.")
    ntotal = property(lambda self: self.index.ntotal, doc="Number of stored vectors.")
    is_trained = property(lambda self: self.index.is_trained, doc="Ready for add and search.")

    def __len__(self) -> int:
        return self.index.ntotal

    def train(self, x, **kwargs) -> None:
        """Trains the wrapped index."""
        self.index.train(x, **kwargs)

    def add(self, x, **kwargs) -> None:
        """Refused, as in FAISS: an IndexIDMap takes vectors with ids only."""
        raise _knnx.NotSupported("add() does not work on an IndexIDMap: use add_with_ids(x, ids)")

    def add_with_ids(self, x, ids, **kwargs) -> None:
        """Appends the vectors x (n, d) with the ids (n,)."""
        self.index.add_with_ids(x, ids, **kwargs)

    def search(self, queries, k: int, **kwargs):
        """(distances, labels) of the k nearest vectors; labels are the ids given to add."""
        return self.index.search(queries, k, **kwargs)

    def range_search(self, queries, radius: float, **kwargs):
        """(lims, distances, labels) of the vectors within radius; labels are the ids given to
        add."""
        return self.index.range_search(queries, radius, **kwargs)

    def remove_ids(self, ids) -> int:
        """Removes the vectors with these ids (or those a knnx.IDSelector admits); returns how
        many were removed."""
        return self.index.remove_ids(ids)

    def reconstruct(self, id: int):
        """The stored vector with this id."""
        return self.index.reconstruct(id)

    def reset(self) -> None:
        """Removes every vector."""
        self.index.reset()

    @property
    def id_map(self):
        """The stored ids, int64 (ntotal,) (FAISS's id_map, as an array); IndexFlat inside only."""
        if not isinstance(self.index, _knnx.IndexFlat):
            raise _knnx.NotSupported("id_map is available for a wrapped IndexFlat only")
        return self.index.ids()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.index!r})"


class IndexIDMap2(IndexIDMap):
    """FAISS's IndexIDMap2: an IndexIDMap whose reconstruct(id) finds vectors by id. knnx's
    IndexIDMap already does, so the two are the same."""

    __module__ = "knnx"
    __slots__ = ()


refuse_unknown_attributes(IndexIDMap)
