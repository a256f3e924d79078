"""faiss.Kmeans spelt as FAISS spells it, on knnx.KMeans.

A FAISS script clusters with `km = faiss.Kmeans(d, k, niter=20, verbose=True); km.train(x)` and
then reads `km.centroids`, `km.obj` or searches `km.index`. knnx.Kmeans takes the same
arguments, with FAISS's defaults (25 iterations, centroids seeded from random training rows),
and gives the same attributes.
"""

from __future__ import annotations

import numpy as np

from knnx import _knnx
from knnx._index import IndexFlat

# FAISS ClusteringParameters field -> knnx.KMeans setting.
_SETTINGS = {
    "niter": "n_iter",
    "seed": "seed",
    "verbose": "verbose",
    "spherical": "spherical",
    "max_points_per_centroid": "max_points_per_centroid",
    "min_points_per_centroid": "min_points_per_centroid",
}


class Kmeans:
    """k-means as FAISS's Kmeans(d, k, **kwargs): kwargs are FAISS's clustering fields niter
    (25), seed (1234), verbose, spherical (inner-product assignment with normalised centroids),
    max_points_per_centroid (256), min_points_per_centroid (39), nredo (1 only) and gpu
    (False; True, -1 or a count runs on cuda:0, knnx's k-means using one GPU). An unknown field
    raises AttributeError, as in FAISS. After train(x): centroids (k, d) float32, obj (the
    objective per iteration), index (an IndexFlat over the centroids, IP when spherical), and
    assign(x) -> (distances, labels)."""

    def __init__(self, d: int, k: int, **kwargs) -> None:
        self.d = int(d)
        self.k = int(k)
        settings = {"n_iter": 25, "init": "random"}
        device = "cpu"
        for name, value in kwargs.items():
            if name == "gpu":
                # FAISS: True or -1 means every GPU, n means n GPUs; knnx's k-means uses one.
                device = "cuda:0" if value is True or (value is not False and value != 0) else "cpu"
            elif name == "nredo":
                if int(value) != 1:
                    raise _knnx.NotSupported(
                        f"Kmeans: nredo = {value}; knnx runs one clustering (nredo = 1). Train "
                        "several with different seeds and keep the lowest obj[-1] instead")
            elif name in _SETTINGS:
                settings[_SETTINGS[name]] = value
            else:
                raise AttributeError(
                    f"Kmeans: unknown clustering field '{name}' (knnx.Kmeans takes "
                    f"{', '.join(sorted([*_SETTINGS, 'nredo', 'gpu']))})")
        self.spherical = bool(settings.get("spherical", False))
        self._kmeans = _knnx.KMeans(self.d, self.k, "ip" if self.spherical else "l2",
                                    device=device, **settings)
        self.centroids = None
        self.obj = None
        self.index = None

    def train(self, x) -> float:
        """Clusters the rows of x (n, d), n >= k; returns the final objective (FAISS returns
        obj[-1] too)."""
        self._kmeans.train(x)
        self.centroids = self._kmeans.centroids
        self.obj = np.asarray(self._kmeans.objective, dtype=np.float64)
        index = IndexFlat(self.d, "ip" if self.spherical else "l2")
        index.add(self.centroids)
        self.index = index
        return float(self.obj[-1]) if len(self.obj) else 0.0

    def assign(self, x):
        """The nearest centroid of each row of x: (distances (n,) float32, labels (n,) int64).
        ValueError before training."""
        return self._kmeans.assign(x)

    def __repr__(self) -> str:
        return (f"knnx.Kmeans(d={self.d}, k={self.k}, trained={self.centroids is not None})")
