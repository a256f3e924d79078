"""A FAISS user's script, run with knnx: only the import line differs from FAISS.

    python3 examples/faiss_user.py [FAISS_FILE]

It builds an exact and an IVF index, searches them (also through an IDSelector filter, and by
range), saves and reloads an index, and opens an index file that FAISS itself wrote
(examples/data/ivf_written_by_faiss.index, made by examples/make_faiss_file.py with faiss-cpu).
tests/python/test_examples.py runs it with knnx and with FAISS (this line changed to
`import faiss`) and checks that both print the same.
"""

import os
import sys
import tempfile

import numpy as np

import knnx as faiss

HERE = os.path.dirname(os.path.abspath(__file__))


def data(n, d, seed):
    """n float32 vectors around 16 well-separated centres (the same for every seed)."""
    centres = np.random.default_rng(0).standard_normal((16, d)).astype("float32") * 4
    rng = np.random.default_rng(seed)
    return (centres[rng.integers(0, 16, n)]
            + rng.standard_normal((n, d)).astype("float32") * 0.5).astype("float32")


def show(name, D, I):
    print(name)
    for dist, lab in zip(D, I):
        print("  ", " ".join(f"{i:5d}" for i in lab), "|", " ".join(f"{x:8.3f}" for x in dist))


d = 16
xb = data(2000, d, seed=1)
xq = data(4, d, seed=2)

# Exact search.
index = faiss.IndexFlatL2(d)
index.add(xb)
print("ntotal", index.ntotal, "is_trained", index.is_trained)
D, I = index.search(xq, 5)
show("IndexFlatL2", D, I)

# Inner product on normalised vectors (cosine similarity).
xn = xb.copy()
faiss.normalize_L2(xn)
qn = xq.copy()
faiss.normalize_L2(qn)
ip = faiss.IndexFlatIP(d)
ip.add(xn)
show("IndexFlatIP (cosine)", *ip.search(qn, 3))

# Inverted file: a coarse quantizer, nlist lists, nprobe of them scanned per query.
nlist = 16
quantizer = faiss.IndexFlatL2(d)
ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
ivf.train(xb)
ivf.add(xb)
ivf.nprobe = 4
show("IndexIVFFlat nprobe=4", *ivf.search(xq, 5))

# Filtered search: only the ids a selector admits.
in_range = faiss.IDSelectorRange(100, 200)
show("IndexFlatL2 ids in [100, 200)", *index.search(xq, 5, params=faiss.SearchParameters(sel=in_range)))
every_7th = faiss.IDSelectorBatch(np.arange(0, 2000, 7, dtype="int64"))
show("IndexIVFFlat every 7th id",
     *ivf.search(xq, 5, params=faiss.SearchParametersIVF(sel=every_7th, nprobe=4)))

# Range search: every vector within a squared L2 distance of each query. FAISS leaves each
# query's results unordered, so they are sorted (by distance, then id) before printing.
lims, RD, RI = index.range_search(xq, 6.0)
print("range_search counts", " ".join(str(lims[q + 1] - lims[q]) for q in range(len(xq))))
for q in range(len(xq)):
    order = np.lexsort((RI[lims[q]:lims[q + 1]], RD[lims[q]:lims[q + 1]]))[:5]
    print("  ", " ".join(f"{i:5d}" for i in RI[lims[q]:lims[q + 1]][order]), "|",
          " ".join(f"{x:8.3f}" for x in RD[lims[q]:lims[q + 1]][order]))

# Vectors with ids of their own.
idmap = faiss.IndexIDMap(faiss.IndexFlatL2(d))
idmap.add_with_ids(xb[:100], np.arange(100, dtype="int64") + 5000)
show("IndexIDMap", *idmap.search(xq, 3))
print("removed", idmap.remove_ids(np.array([5000, 5001, 5002], dtype="int64")))

# Saving and loading.
with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "flat.index")
    faiss.write_index(index, path)
    loaded = faiss.read_index(path)
    print("reloaded ntotal", loaded.ntotal, "same results",
          bool((loaded.search(xq, 5)[1] == I).all()))
print("reconstruct_n", " ".join(f"{x:.3f}" for x in index.reconstruct_n(10, 2)[:, :4].ravel()))

# An index file that FAISS wrote.
faiss_file = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "data",
                                                                "ivf_written_by_faiss.index")
from_faiss = faiss.read_index(faiss_file)
from_faiss.nprobe = 4
print("FAISS file: ntotal", from_faiss.ntotal, "d", from_faiss.d)
show("FAISS file search", *from_faiss.search(data(4, 8, seed=4), 5))

# Brute force in one call.
show("knn", *faiss.knn(xq, xb, 3, faiss.METRIC_L2))
