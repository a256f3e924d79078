"""install_fake_tqdm: a test's stand-in for tqdm, to see what a verbose call reports."""

import sys
import types


def install_fake_tqdm(monkeypatch, bar_class):
    """Makes `from tqdm.auto import tqdm` give bar_class for the test."""
    module = types.ModuleType("tqdm.auto")
    module.tqdm = bar_class
    package = types.ModuleType("tqdm")
    package.auto = module
    monkeypatch.setitem(sys.modules, "tqdm", package)
    monkeypatch.setitem(sys.modules, "tqdm.auto", module)
