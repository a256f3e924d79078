"""SearchParameters / SearchParametersIVF: the bound parameter structs, constructed with
keywords as in FAISS (knnx.SearchParametersIVF(nprobe=16))."""

from __future__ import annotations

from knnx import _knnx


def _set_fields(params, fields: dict) -> None:
    for name, value in fields.items():
        setattr(params, name, value)  # AttributeError naming the closest field for a typo


class SearchParameters(_knnx.SearchParameters):
    __doc__ = _knnx.SearchParameters.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, **fields) -> None:
        super().__init__()
        _set_fields(self, fields)


class SearchParametersRefine(_knnx.SearchParametersRefine):
    __doc__ = _knnx.SearchParametersRefine.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, **fields) -> None:
        super().__init__()
        _set_fields(self, fields)


# A subclass of the bound SearchParametersIVF (itself a bound SearchParameters): nanobind
# classes take one nanobind base, so it is not a subclass of the Python SearchParameters above.
class SearchParametersIVF(_knnx.SearchParametersIVF):
    __doc__ = _knnx.SearchParametersIVF.__doc__
    __module__ = "knnx"
    __slots__ = ()

    def __init__(self, **fields) -> None:
        super().__init__()
        _set_fields(self, fields)
