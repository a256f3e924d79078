"""knnx.config(), set_config() and describe_knobs()."""

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


def test_module_facts():
    assert knnx.__version__ == "0.1.0"
    assert isinstance(knnx.cuda_backend_compiled(), bool)
    assert knnx.cuda_device_count() >= 0
    if knnx.cuda_device_count() == 0:
        assert knnx.cuda_device_name(0) == ""
    assert [m.name for m in knnx.Metric] == ["L2", "INNER_PRODUCT"]
    assert knnx.MAX_K == 2048
