"""Progress reports of long operations (verbose=True): a tqdm bar when tqdm is installed, plain
lines on stderr otherwise."""

from __future__ import annotations

import sys
import time
from typing import Optional


class _StderrProgress:
    """A tqdm-like counter that prints "desc: done/total unit (pct%, rate, elapsed)" lines on
    stderr, at most about one a second plus the final one. total may be None (unknown)."""

    def __init__(self, total: int, desc: str, unit: str) -> None:
        self.total, self.desc, self.unit = total, desc, unit
        self.n = 0
        self._postfix = ""
        self._start = time.monotonic()
        self._last_print = self._start

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        done = self.total is not None and self.n >= self.total
        if done or now - self._last_print >= 1.0:
            self._print(now)

    def set_postfix_str(self, text: str) -> None:
        self._postfix = text

    def close(self) -> None:
        if self._last_print == self._start and (self.total is None or self.n < self.total):
            self._print(time.monotonic())  # nothing printed yet: say where the operation stopped

    def _print(self, now: float) -> None:
        self._last_print = now
        elapsed = max(now - self._start, 1e-9)
        extra = f", {self._postfix}" if self._postfix else ""
        if self.total is None:
            count, pct = f"{self.n}", ""
        else:
            count = f"{self.n}/{self.total}"
            pct = f"{100.0 * self.n / self.total if self.total else 100.0:.0f}%, "
        print(f"{self.desc}: {count} {self.unit} ({pct}{self.n / elapsed:.4g} {self.unit}/s, "
              f"{elapsed:.1f} s{extra})", file=sys.stderr, flush=True)


def progress(total: Optional[int], desc: str, unit: str):
    """A progress counter with update(n), set_postfix_str(text) and close(); total None when
    unknown."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _StderrProgress(total, desc, unit)
    return tqdm(total=total, desc=desc, unit=unit)


def set_postfix(bar, text: Optional[str]) -> None:
    """Shows text next to the counter where the bar supports it."""
    setter = getattr(bar, "set_postfix_str", None)
    if setter is not None and text:
        setter(text)
