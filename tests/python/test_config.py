"""knnx.config(), set_config() and describe_knobs()."""

import os
import re
from pathlib import Path

import pytest

import knnx


def test_every_knob_is_exposed():
    # The Python names are the KNNX_* variables without the prefix, in lower case.
    described = [k["env_name"] for k in knnx.describe_knobs()]
    assert list(knnx.config()) == [e[len("KNNX_"):].lower() for e in described]
    for knob in knnx.describe_knobs():
        assert set(knob) == {"name", "env_name", "value", "default", "range", "description"}
        assert knob["description"] and knob["range"]
        value = knnx.config()[knob["name"]]
        assert knob["value"] == (str(int(value)) if isinstance(value, bool) else str(value))


def test_set_config_round_trip(restore_config):
    knnx.set_config(num_threads=1, cpu_query_block=17, sync_check=True)
    c = knnx.config()
    assert (c["num_threads"], c["cpu_query_block"], c["sync_check"]) == (1, 17, True)
    knnx.set_config(sync_check=0)
    assert knnx.config()["sync_check"] is False
    described = {k["name"]: k["value"] for k in knnx.describe_knobs()}
    assert described["cpu_query_block"] == "17"


@pytest.mark.parametrize("kwargs,pattern", [
    ({"num_thread": 2}, r'unknown knob "num_thread"; the knobs are num_threads, '),
    ({"num_threads": "2"}, r"num_threads must be an integer, got '2'"),
    ({"num_threads": 2.0}, r"num_threads must be an integer"),
    ({"num_threads": True}, r"num_threads must be an integer, got True"),
    ({"num_threads": -1}, r"KNNX_NUM_THREADS must be an integer in \[0, 4096\]"),
    ({"num_threads": 2**40}, r"num_threads = 1099511627776 is out of range"),
    ({"sync_check": 2}, r"sync_check must be True, False, 0 or 1, got 2"),
    ({"cpu_base_block": 1, "num_threads": 3}, r"KNNX_CPU_BASE_BLOCK"),
])
def test_set_config_rejects_and_changes_nothing(restore_config, kwargs, pattern):
    before = knnx.config()
    with pytest.raises(ValueError, match=pattern):
        knnx.set_config(**kwargs)
    assert knnx.config() == before


def test_reload_from_environment(restore_config, monkeypatch):
    monkeypatch.setenv("KNNX_CPU_QUERY_BLOCK", "33")
    knnx.reload_config_from_env()
    assert knnx.config()["cpu_query_block"] == 33
    monkeypatch.setenv("KNNX_CPU_QUERY_BLOCK", "lots")
    with pytest.raises(ValueError, match="KNNX_CPU_QUERY_BLOCK"):
        knnx.reload_config_from_env()
    assert knnx.config()["cpu_query_block"] == 33


def cmake_project_version():
    """The version of project(knnx VERSION ...) in CMakeLists.txt, the one source of truth."""
    text = (Path(__file__).resolve().parents[2] / "CMakeLists.txt").read_text()
    return re.search(r"project\(knnx VERSION ([0-9.]+)", text).group(1)


def test_module_facts():
    assert knnx.__version__ == cmake_project_version()
    assert isinstance(knnx.cuda_backend_compiled(), bool)
    assert knnx.cuda_device_count() >= 0
    if knnx.cuda_device_count() == 0:
        assert knnx.cuda_device_name(0) == ""
    assert [m.name for m in knnx.Metric] == ["L2", "INNER_PRODUCT"]
    assert knnx.MAX_K == 262144


@pytest.mark.parametrize("name", ["cpu_query_block", "cpu_base_block"])
@pytest.mark.parametrize("value", [16385, 1 << 20, 1 << 24])
def test_block_knobs_too_large_for_memory_are_refused(restore_config, name, value):
    before = knnx.config()
    with pytest.raises(knnx.InvalidArgument, match=f"KNNX_{name.upper()}.*16384"):
        knnx.set_config(**{name: value})
    assert knnx.config() == before


def test_huge_block_knobs_in_the_environment_give_an_error_not_an_abort(tmp_path):
    # Before range checking, such values made std::bad_alloc escape an OpenMP region and abort.
    import subprocess
    import sys
    env = dict(os.environ, KNNX_CPU_QUERY_BLOCK="1048576", KNNX_CPU_BASE_BLOCK="16777216")
    code = ("import knnx, numpy as np\n"
            "x = np.ones((5000, 4), np.float32)\n"
            "i = knnx.IndexFlat(4)\n"
            "i.add(x)\n"
            "try:\n"
            "    i.search(x, 1)\n"
            "except knnx.InvalidArgument as e:\n"
            "    print('refused:', e)\n")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert "refused:" in run.stdout and "KNNX_CPU_" in run.stdout


def test_bad_alloc_is_knnx_out_of_memory():
    # One hierarchy in both languages: a failed allocation is knnx.OutOfMemory (a MemoryError).
    with pytest.raises(knnx.OutOfMemory, match="out of host memory"):
        knnx.make_mixture_base(1 << 40, 128)
