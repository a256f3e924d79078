"""Index and parameter objects refuse attributes they do not have.

Without this, `index.nprobe = 8` on a class that spells it otherwise would create a new Python
attribute and change nothing. refuse_unknown_attributes() makes assignment to (and reading of)
a name the class does not define raise AttributeError, naming the closest real attribute.
"""

from __future__ import annotations

import difflib


def _public_names(cls) -> list:
    return sorted({name for name in dir(cls) if not name.startswith("__")})


def unknown_attribute(obj, name: str) -> AttributeError:
    """The AttributeError for a name obj's class does not have, suggesting the closest one."""
    cls = type(obj)
    close = difflib.get_close_matches(name, _public_names(cls), n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return AttributeError(f"'{cls.__name__}' object has no attribute '{name}'{hint}")


def _setattr(self, name: str, value) -> None:
    if not hasattr(type(self), name):
        raise unknown_attribute(self, name)
    object.__setattr__(self, name, value)


def _getattr(self, name: str):
    # Only called when the normal lookup found nothing.
    raise unknown_attribute(self, name)


def alias(name: str, settable: bool = True) -> property:
    """A property that reads (and, if settable, assigns) the attribute `name`: FAISS's
    spelling of a knnx setting, e.g. nprobe = alias("n_probe")."""
    getter = lambda self: getattr(self, name)  # noqa: E731
    setter = (lambda self, value: setattr(self, name, value)) if settable else None
    return property(getter, setter, doc=f"FAISS's name of {name}.")


def refuse_unknown_attributes(cls) -> None:
    """Makes cls (and its subclasses) raise AttributeError for names it does not define."""
    cls.__setattr__ = _setattr
    cls.__getattr__ = _getattr


class ReadOnlyView:
    """A read-only stand-in for a settings object that is a snapshot: reading works, assigning
    raises AttributeError saying why (so `km.params.n_iter = 5` cannot silently do nothing)."""

    __slots__ = ("_target", "_why")

    def __init__(self, target, why: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_why", why)

    def copy(self):
        """The settings as an independent, modifiable object."""
        return self._target

    def __getattr__(self, name: str):
        if not hasattr(type(self._target), name):
            raise unknown_attribute(self._target, name)
        return getattr(self._target, name)

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError(f"cannot set '{name}': {self._why}")

    def __dir__(self):
        return dir(self._target)

    def __repr__(self) -> str:
        return repr(self._target)
