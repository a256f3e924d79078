"""examples/faiss_user.py, a FAISS user's script with `import knnx as faiss`, prints what the
same script prints with FAISS itself."""

import os
import subprocess
import sys

import pytest

import knnx

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "faiss_user.py")


def run(source: str, tmp_path, name: str) -> str:
    path = tmp_path / name
    path.write_text(source)
    env = dict(os.environ)
    # The knnx this test imports, wherever it was built.
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(knnx.__file__)), env.get("PYTHONPATH", "")])
    faiss_file = os.path.join(ROOT, "examples", "data", "ivf_written_by_faiss.index")
    out = subprocess.run([sys.executable, str(path), faiss_file], env=env, check=True,
                         capture_output=True, text=True, timeout=300)
    return out.stdout


def same_output(a: str, b: str) -> None:
    """Line by line, word by word: equal, or numbers within the printed float rounding."""
    lines_a, lines_b = a.splitlines(), b.splitlines()
    assert len(lines_a) == len(lines_b), (a, b)
    for la, lb in zip(lines_a, lines_b):
        wa, wb = la.split(), lb.split()
        assert len(wa) == len(wb), (la, lb)
        for x, y in zip(wa, wb):
            if x == y:
                continue
            assert "." in x and "." in y and abs(float(x) - float(y)) <= 2e-3, (la, lb)


def test_faiss_user_script_prints_faiss_results(tmp_path):
    source = open(SCRIPT).read()
    assert "import knnx as faiss\n" in source
    with_knnx = run(source, tmp_path, "with_knnx.py")
    assert "IndexIVFFlat nprobe=4" in with_knnx and "FAISS file search" in with_knnx
    faiss = pytest.importorskip("faiss")
    with_faiss = run(source.replace("import knnx as faiss\n", "import faiss\n"), tmp_path,
                     "with_faiss.py")
    assert faiss.__version__
    same_output(with_knnx, with_faiss)
