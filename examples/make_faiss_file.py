"""Writes examples/data/ivf_written_by_faiss.index with faiss-cpu: the FAISS-written file that
examples/faiss_user.py opens (an IndexIVFFlat, d = 8, 16 lists, 600 Gaussian vectors)."""

import os

import faiss
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    xb = np.random.default_rng(3).standard_normal((600, 8)).astype("float32") * 4
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(8), 8, 16)
    index.train(xb)
    index.add(xb)
    index.nprobe = 2
    faiss.write_index(index, os.path.join(HERE, "data", "ivf_written_by_faiss.index"))
