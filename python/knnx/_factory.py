"""index_factory: build an index from a FAISS-style description string.

A description is a comma-separated list of components, in this order:

    [transform ,]* [coarse quantizer ,] storage

    transform:        PCA<d_out> | PCAW<d_out> | PCAR<d_out> | PCAWR<d_out>
                      | OPQ<m>[_<d_out>] | RR<d_out> | L2norm
    coarse quantizer: IVF<nlist>
    storage:          Flat

so "Flat", "IVF1024,Flat" and "PCA64,IVF1024,Flat" are all well-formed. parse_index_spec()
checks this grammar in Python; index_factory() hands the description to the C++
knnx::index_factory, so it builds exactly what the library builds and raises ValueError with
the library's message (naming the component) for anything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from knnx import _knnx
from knnx._index_file import from_handle

_TRANSFORM = re.compile(r"^(PCAWR|PCAW|PCAR|PCA|RR)(\d+)$|^(OPQ)(\d+)(?:_(\d+))?$|^(L2norm)$")
_COARSE = re.compile(r"^IVF(\d+)$")
_STORAGE = ("Flat",)


@dataclass(frozen=True)
class Component:
    """One parsed component: its kind, the text it came from, and its integer parameters."""

    kind: str                  # "PCA", "PCAW", "PCAR", "PCAWR", "OPQ", "RR", "L2norm", "IVF",
                               # or "Flat"
    text: str                  # as written in the description
    params: Tuple[int, ...]    # PCA*: (d_out,); OPQ: (m,) or (m, d_out); RR: (d_out,);
                               # L2norm: (); IVF: (nlist,)


@dataclass(frozen=True)
class IndexSpec:
    """A parsed description."""

    transforms: Tuple[Component, ...]
    coarse: Optional[Component]
    storage: Component


def _positive(value: str, component: str, what: str) -> int:
    n = int(value)
    if n < 1:
        raise ValueError(f"index description component '{component}': {what} must be >= 1, got {n}")
    return n


def parse_index_spec(description: str) -> IndexSpec:
    """Parses a description; raises ValueError naming the component that does not fit."""
    if not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}")
    parts = [p.strip() for p in description.split(",")]
    if not description.strip() or any(not p for p in parts):
        raise ValueError(f"description '{description}' has an empty component")

    *prefix, last = parts
    if last not in _STORAGE:
        raise ValueError(
            f"description '{description}' must end with a storage component "
            f"({', '.join(_STORAGE)}), got '{last}'")
    storage = Component(last, last, ())

    transforms = []
    coarse = None
    for part in prefix:
        t = _TRANSFORM.match(part)
        c = _COARSE.match(part)
        if t:
            if coarse is not None:
                raise ValueError(f"description '{description}': transform '{part}' must come "
                                 f"before the coarse quantizer '{coarse.text}'")
            if t.group(6):
                kind, params = "L2norm", ()
            elif t.group(1):
                kind = t.group(1)
                params = (_positive(t.group(2), part, "the output dimension"),)
            else:
                kind = "OPQ"
                params = (_positive(t.group(4), part, "the number of subquantizers"),)
                if t.group(5):
                    params += (_positive(t.group(5), part, "the output dimension"),)
            transforms.append(Component(kind, part, params))
        elif c:
            if coarse is not None:
                raise ValueError(f"description '{description}' has two coarse quantizers "
                                 f"('{coarse.text}', '{part}')")
            coarse = Component("IVF", part, (_positive(c.group(1), part, "nlist"),))
        else:
            raise ValueError(f"description '{description}': unknown component '{part}'")
    return IndexSpec(tuple(transforms), coarse, storage)


def index_factory(d: int, description: str, metric: Union[str, "_knnx.Metric"] = "l2",
                  device: str = "cpu") -> _knnx.Index:
    """An empty index for d-dimensional vectors built from a description such as "Flat",
    "IVF1024,Flat" or "PCA64,IVF1024,Flat", by the C++ knnx::index_factory.

    Returns an object of the index's class: knnx.IndexFlat, knnx.IndexIVFFlat, or
    knnx.IndexPreTransform for descriptions with transforms (when the library supports them).
    metric: "l2" or "ip" (or a knnx.Metric); device: "cpu", "cuda" or "cuda:N". Raises
    ValueError naming the component for a description the library cannot build.
    """
    if not isinstance(description, str):
        raise ValueError(f"description must be a str, got {type(description).__name__}")
    return from_handle(_knnx._index_factory(d, description, metric, device))
