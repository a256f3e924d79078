"""The knnx command behind `python -m knnx` / the console script, and knnx.show_config()."""

import io
import subprocess
import sys

import pytest

import knnx
import knnx.__main__ as entry


def test_build_info_describes_this_build():
    info = knnx.build_info()
    assert info["version"] == knnx.__version__
    assert info["cuda_compiled"] == knnx.cuda_backend_compiled()
    assert len(info["cuda_devices"]) == knnx.cuda_device_count()
    assert info["blas"]
    assert info["cpu_threads"] >= 1 and info["cpu_processors"] >= 1


def test_show_config_prints_cuda_gpus_blas_and_threads():
    out = io.StringIO()
    knnx.show_config(file=out)
    text = out.getvalue()
    assert f"version       {knnx.__version__}" in text
    for row in ("backends", "cuda devices", "blas", "cpu threads"):
        assert f"\n{row}" in text
    if not knnx.cuda_backend_compiled():
        assert "built without CUDA" in text


def test_main_without_the_binary_says_how_to_get_it(monkeypatch, capsys):
    monkeypatch.setattr(entry, "cli_path", lambda: None)
    assert entry.main(["--version"]) == 1
    assert "built without the command-line tool" in capsys.readouterr().err


def test_python_m_knnx_runs_the_cli_with_its_exit_codes():
    if entry.cli_path() is None:
        pytest.skip("this build of the package has no knnx binary (KNNX_BUILD_CLI=OFF)")
    version = subprocess.run([sys.executable, "-m", "knnx", "--version"], capture_output=True,
                             text=True, check=True)
    assert version.stdout.strip() == knnx.__version__
    misspelt = subprocess.run([sys.executable, "-m", "knnx", "serch"], capture_output=True,
                              text=True)
    assert misspelt.returncode == 2
    assert "did you mean 'search'?" in misspelt.stderr
