"""ANN benchmark harness: one runner, one adapter per system, ann-benchmarks-style results.

Run from the repository root:

    python3 -m bench.harness --dataset mixture --n 100000 --nq 1000 --k 10 \
        --systems knnx-cpu,faiss-cpu --indexes flat,ivf --n-lists 1024 --threads 2

Systems (each adapter skips with a message when its module or device is absent):
    knnx-cpu, knnx-gpu   the knnx Python module: IndexFlat, IndexIVFFlat
    faiss-cpu            faiss: IndexFlat, IndexIVFFlat, IndexHNSWFlat
    hnswlib              hnswlib: HNSW
    torch-gpu            PyTorch brute force on the GPU (x @ y.T + topk)

Every run writes one JSON file (bench/results/ by default) of kind "ann_sweep"; `knnx bench`
(the C++ CLI) writes the same schema, and bench/render_benchmarks.py renders both:

    benchmark      "ann_sweep";  schema: 1;  producer: "bench/harness" | "knnx bench"
    host           name, cpu_model, cpu_flags, nproc, platform, note
    devices        GPUs seen (name, driver) when a GPU system ran
    commit, worktree_dirty, command, versions {library: version}, environment {VAR: value}
    threads, dataset {name, kind, n, d, nq, metric, ...}, k, ground_truth {method, cache}
    repeat_rule {warmup, repeats, min_repeats, max_seconds}, loadavg_start, loadavg_end
    runs[]         system, algorithm ("Flat" | "IVF-Flat" | "HNSW"), index (a spec string),
                   build_params, build {train_s, add_s, total_s}, index_bytes, index_bytes_method,
                   points[] {params, recall, times_s (every timed search of all nq queries),
                             median_s, qps (nq / median_s), loadavg}
    skipped[]      {system, index, reason}
"""
