"""index_factory: build an index from a FAISS-style description string.

A description is a comma-separated list of components, in this order:

    [transform ,]* [coarse quantizer ,] storage

    transform:        PCA<d_out> | PCAW<d_out> | PCAR<d_out> | PCAWR<d_out>
                      | OPQ<m>[_<d_out>] | RR<d_out> | L2norm
    coarse quantizer: IVF<nlist>
    storage:          Flat | PQ<M>[x8] | SQ8 | SQ4 | SQfp16 | SQbf16

so "Flat", "IVF1024,Flat", "PCA64,IVF1024,Flat", "PQ16" and "OPQ32,IVF4096,PQ32" are all
well-formed. Both functions here
hand the description to the library (knnx::parse_index_spec, knnx::index_factory), so the
grammar, and the ValueError naming the component that does not fit, are the library's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple, Union

from knnx import _knnx
from knnx._index_file import from_handle


@dataclass(frozen=True)
class Component:
    """One parsed component: its kind, the text it came from, and its integer parameters."""

    kind: str                  # "PCA", "PCAW", "PCAR", "PCAWR", "OPQ", "RR", "L2norm", "IVF",
                               # "Flat", "PQ" or "SQ"
    text: str                  # as written in the description
    params: Tuple[int, ...]    # PCA*: (d_out,); OPQ: (m,) or (m, d_out); RR: (d_out,);
                               # L2norm: (); IVF: (nlist,); Flat, SQ: (); PQ: (M, nbits)


@dataclass(frozen=True)
class IndexSpec:
    """A parsed description."""

    transforms: Tuple[Component, ...]
    coarse: Optional[Component]
    storage: Component


def _transform(kind: str, text: str, d_out: int, m: int, whiten: bool,
               rotate: bool) -> Component:
    if kind == "PCA":
        return Component("PCA" + ("W" if whiten else "") + ("R" if rotate else ""), text, (d_out,))
    if kind == "OPQ":
        return Component("OPQ", text, (m, d_out) if d_out else (m,))
    if kind == "RR":
        return Component("RR", text, (d_out,))
    return Component("L2norm", text, ())


def parse_index_spec(description: str) -> IndexSpec:
    """Parses a description with the library's parser (knnx::parse_index_spec); raises
    ValueError (knnx.InvalidArgument) naming the component that does not fit."""
    if not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}")
    transforms, n_lists, storage, pq_m, pq_nbits = _knnx._parse_index_spec(description)
    coarse = Component("IVF", f"IVF{n_lists}", (n_lists,)) if n_lists else None
    text = description.split(",")[-1].strip()
    if storage == "PQ":
        stored = Component("PQ", text, (pq_m, pq_nbits))
    elif storage == "SQ":
        stored = Component("SQ", text, ())
    else:
        stored = Component("Flat", "Flat", ())
    return IndexSpec(tuple(_transform(*t) for t in transforms), coarse, stored)


def index_factory(d: int, description: str, metric: Union[str, int, "_knnx.Metric"] = "l2",
                  device: str = "cpu") -> _knnx.Index:
    """An empty index for d-dimensional vectors built from a description such as "Flat",
    "IVF1024,Flat" or "PCA64,IVF1024,Flat", by the C++ knnx::index_factory.

    Returns an object of the index's class: knnx.IndexFlat, knnx.IndexIVFFlat, knnx.IndexPQ,
    knnx.IndexIVFPQ, or knnx.IndexPreTransform for descriptions with transforms.
    metric: "l2" or "ip", a knnx.Metric, or FAISS's METRIC_L2 / METRIC_INNER_PRODUCT (the third
    positional argument, as in FAISS); device: "cpu", "cuda" or "cuda:N". Raises ValueError
    naming the component for a description the library cannot build.
    """
    if not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}")
    return from_handle(_knnx._index_factory(d, description, metric, device))
