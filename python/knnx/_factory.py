"""index_factory: build an index from a FAISS-style description string.

A description is a comma-separated list of components, in this order:

    [transform ,]* [coarse quantizer ,] storage

    transform:        PCA<d_out> | OPQ<m>[_<d_out>] | RR<d_out>
    coarse quantizer: IVF<nlist>
    storage:          Flat

so "Flat", "IVF1024,Flat" and "PCA64,IVF1024,Flat" are all well-formed. parse_index_spec()
checks the whole grammar; index_factory() then builds the parts this version of knnx provides
and raises ValueError naming the first component it cannot build.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Tuple, Union

from knnx import _knnx
from knnx._index import IndexFlat

_TRANSFORM = re.compile(r"^(PCA|RR)(\d+)$|^(OPQ)(\d+)(?:_(\d+))?$")
_COARSE = re.compile(r"^IVF(\d+)$")
_STORAGE = ("Flat",)


@dataclass(frozen=True)
class Component:
    """One parsed component: its kind, the text it came from, and its integer parameters."""

    kind: str                  # "PCA", "OPQ", "RR", "IVF" or "Flat"
    text: str                  # as written in the description
    params: Tuple[int, ...]    # PCA: (d_out,); OPQ: (m,) or (m, d_out); RR: (d_out,); IVF: (nlist,)


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
            if t.group(1):
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
    """An empty index for d-dimensional vectors built from a description such as "Flat".

    metric: "l2" or "ip" (or a knnx.Metric); device: "cpu", "cuda" or "cuda:N". Raises
    ValueError for a malformed description and for components this version cannot build.
    """
    spec = parse_index_spec(description)
    unsupported = spec.transforms + ((spec.coarse,) if spec.coarse else ())
    if unsupported:
        raise ValueError(f"index_factory: '{unsupported[0].text}' in '{description}' is not "
                         f"supported by knnx {_knnx.__version__}; supported descriptions: 'Flat'")
    return IndexFlat(d, metric, device)
