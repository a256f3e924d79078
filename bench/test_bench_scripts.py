"""Checks of the benchmark scripts' parts that need no GPU: gpu_sweep.py's plan, floors, recall
and tables, and render_benchmarks.py's sections for the sweep, GPU IVF-PQ and CPU
knnx-vs-faiss files, on small made-up documents of the scripts' own schemas.

    python3 -m pytest -q bench/test_bench_scripts.py        (numpy and pytest; no knnx build)
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import gpu_sweep  # noqa: E402
import render_benchmarks  # noqa: E402

RATES = {"copy_bandwidth_bytes_per_s": 1e15, "fp32_matmul_flops_per_s": 1e13,
         "tf32_matmul_flops_per_s": 1e14, "matmul_n": 8192}


def args_of(*argv):
    return gpu_sweep.parser().parse_args(list(argv))


def test_plan_measures_the_shared_point_once_and_drops_k_past_n():
    pairs = gpu_sweep.plan(args_of("--nb", "5000", "--k", "10", "100", "8192",
                                   "--nq", "1", "10000"))
    assert pairs == [(10000, 10, ["k", "nq"]), (10000, 100, ["k"]), (1, 10, ["nq"])]
    assert gpu_sweep.plan(args_of("--sweeps", "nq", "--nq", "16")) == [(16, 10, ["nq"])]


def test_recall_rows_are_capped_by_labels():
    assert gpu_sweep.recall_rows(10000, 10, 1000) == 1000
    assert gpu_sweep.recall_rows(16, 10, 1000) == 16
    assert gpu_sweep.recall_rows(10000, 16384, 1000) == gpu_sweep.RECALL_LABELS // 16384


def test_work_counts_bytes_and_flops():
    # Flat: base 1000 x 4 floats, 10 queries, 10 x 2 results of 12 bytes.
    assert gpu_sweep.work("flat", 1000, 4, 10, 2) == (16000 + 160 + 240, 2.0 * 10 * 1000 * 4)
    # IVF: 60 distinct probed rows, 8 centroids; 100 rows probed over all queries.
    nbytes, flops = gpu_sweep.work("ivf", 1000, 4, 10, 2, nlist=8, probed_rows=100,
                                   distinct_rows=60)
    assert nbytes == 60 * 16 + 8 * 16 + 160 + 240
    assert flops == 2.0 * 4 * (10 * 8 + 100)


def test_floor_takes_each_modes_gemm_rate():
    flops = 1e9  # 0.1 ms at FP32, 0.01 ms at TF32; 1e6 bytes take 1e-6 ms
    fp32, tf32 = 0.1, 0.01
    f = gpu_sweep.floor(1e6, flops, "exact", RATES)
    assert f["memory_ms"] == pytest.approx(1e-6)
    assert f["gemm_fp32_ms"] == pytest.approx(fp32)
    assert f["gemm_tf32_ms"] == pytest.approx(tf32)
    assert f["floor_ms"] == pytest.approx(3 * tf32)  # 3xTF32 beats FP32 here
    assert f["bound"] == "gemm"
    assert gpu_sweep.floor(1e6, flops, "fast", RATES)["floor_ms"] == pytest.approx(tf32)
    assert gpu_sweep.floor(1e6, flops, "fast-fused", RATES)["floor_ms"] == pytest.approx(tf32)
    assert gpu_sweep.floor(1e6, flops, "exact-fp32", RATES)["floor_ms"] == pytest.approx(fp32)
    assert gpu_sweep.floor(1e6, flops, "torch-fp32", RATES)["floor_ms"] == pytest.approx(fp32)
    slow_fp32 = dict(RATES, fp32_matmul_flops_per_s=1e14, tf32_matmul_flops_per_s=2e14)
    assert gpu_sweep.floor(1e6, flops, "exact", slow_fp32)["floor_ms"] == pytest.approx(0.01)
    memory_bound = gpu_sweep.floor(1e12, flops, "fast", RATES)  # 1 ms of memory
    assert memory_bound["bound"] == "memory" and memory_bound["floor_ms"] == pytest.approx(1.0)


def test_recall_counts_hits_per_row_and_ignores_padding():
    truth = np.array([[1, 2, 3], [5, 4, 9]])
    found = np.array([[1, 2, -1], [3, 4, 5]])  # row 1's 3 is row 0's label: no hit
    assert gpu_sweep.recall(found, truth) == pytest.approx(4 / 6)
    assert gpu_sweep.recall(truth, truth) == 1.0
    assert gpu_sweep.recall(np.full((2, 3), -1), truth) == 0.0
    # Padded truth (fewer than k rows exist): only its real labels count.
    assert gpu_sweep.recall(np.array([[7, 8]]), np.array([[7, -1]])) == 1.0


def point(index, mode, nq, k, ms, sweeps, **extra):
    nbytes, flops = gpu_sweep.work("flat", 1_000_000, 128, nq, k)
    p = {"index": index, "mode": mode, "nq": nq, "k": k, "sweeps": sweeps,
         "floor": gpu_sweep.floor(nbytes, flops, "torch-fp32" if index == "torch" else mode,
                                  RATES), **extra}
    if ms is None:
        return {key: v for key, v in p.items() if key != "recall_vs_exact"} | {
            "error": "k must be in [1, 2048]"}
    return p | {"median_ms": ms, "qps": nq / (ms * 1e-3), "x_floor": ms / p["floor"]["floor_ms"]}


def sweep_doc():
    """A gpu_sweep document of two (nq, k) points, as measure() writes it."""
    pts = []
    for nq, k, sweeps in ((10000, 10, ["k", "nq"]), (10000, 4096, ["k"])):
        pts.append(point("torch", "fp32", nq, k, 280.0, sweeps, recall_vs_exact=1.0))
        for index in ("flat", "ivf"):
            pts.append(point(index, "exact", nq, k, 50.0 if k == 10 else 100.0, sweeps))
            pts.append(point(index, "fast", nq, k, 20.0 if k == 10 else None, sweeps,
                             recall_vs_exact=0.99991))
    return {
        "benchmark": "gpu_sweep", "date": "2026-01-01T00:00:00+00:00", "commit": "0123456789ab",
        "dirty": False, "command": "bench/gpu_sweep.py", "device": "NVIDIA H100 80GB HBM3",
        "driver": "580.1", "torch": "2.11", "cuda_runtime_torch": "13.0", "knnx_config": {},
        "data": {"kind": "gaussian_mixture", "source": "knnx.make_mixture_base", "n": 1_000_000,
                 "d": 128, "clusters": 1024, "center_stddev": 1.0, "noise_stddev": 0.6,
                 "seed": 2, "generate_s": 2.0},
        "metric": "l2", "k_sweep": {"nq": 10000, "k": [10, 4096]},
        "nq_sweep": {"k": 10, "nq": [10000]}, "modes": ["exact", "fast"],
        "index_names": {"flat": "Flat", "ivf": "IVF1024,Flat", "torch": "PyTorch"},
        "build": {"flat": {"add_s": 0.1},
                  "ivf": {"train_n": 262144, "train_s": 1.0, "add_s": 0.2, "nlist": 1024,
                          "nprobe": 32, "list_size_max": 3000, "list_size_mean": 976.6}},
        "reps": 3, "statistic": "median of 3 searches after one warm-up", "workspace_mb": 1536,
        "torch_workspace_gb": 4.0, "rates": RATES, "points": pts, "elapsed_s": 100.0,
    }


def test_table_puts_the_modes_of_a_point_side_by_side():
    text = gpu_sweep.table(sweep_doc()).splitlines()
    assert len(text) == 1 + 4  # header, (Flat, IVF) x two points
    flat_k10 = next(line for line in text if line.startswith("Flat") and " 10000     10 " in line)
    assert "50.0" in flat_k10 and "20.0" in flat_k10 and "280.0" in flat_k10
    assert "0.99991" in flat_k10
    assert "error" in next(line for line in text if line.startswith("Flat") and "4096" in line)


def test_table_shows_the_fused_fast_mode_beside_the_old_one():
    doc = sweep_doc()
    doc["modes"] = ["exact", "fast", "fast-fused"]
    doc["points"].append(point("flat", "fast-fused", 10000, 10, 12.5, ["k", "nq"],
                               recall_vs_exact=0.99995))
    text = gpu_sweep.table(doc).splitlines()
    assert "fast-fused ms" in text[0] and "fused recall" in text[0]
    flat_k10 = next(line for line in text if line.startswith("Flat") and " 10000     10 " in line)
    assert "20.0" in flat_k10 and "12.5" in flat_k10 and "0.99995" in flat_k10


def test_render_gpu_sweep_sections():
    doc = sweep_doc()
    lines = render_benchmarks.gpu_sweep("gpu_sweep_h100.json", doc)
    text = "\n".join(lines)
    assert "k sweep, nq = 10,000:" in text and "nq sweep, k = 10:" in text
    flat = gpu_sweep.floor(*gpu_sweep.work("flat", 1_000_000, 128, 10000, 10), "exact", RATES)
    row = next(line for line in lines if line.startswith("| Flat | 10,000 | 4,096 |"))
    assert "100.0 (" in row and "| error |" in row
    assert row.endswith("| 2.00 |")  # exact 100 ms after 50 ms at the previous k
    k10 = next(line for line in lines if line.startswith("| Flat | 10,000 | 10 |"))
    assert f"50.0 ({50.0 / flat['floor_ms']:.2f}x)" in k10
    assert "- / 0.99991" in k10 and "280.0" in k10
    assert "- Flat fast, nq = 10,000, k = 4,096: k must be in [1, 2048]" in text
    assert "| 100.0 (1.30x) | error | - / - |" in row
    doc["nq_sweep"] = None
    assert "nq sweep" not in "\n".join(render_benchmarks.gpu_sweep("x.json", doc))


def ivf_pq_doc():
    """A bench/gpu_ivf_pq.py document (its main()'s schema) of one size and one index."""
    pts = [{"nprobe": p, "recall": r, "median_s": s, "qps": 10000 / s, "bytes_scanned": b,
            "floor_s": b / 3e12, "floor_qps": 10000 * 3e12 / b, "scan_vs_floor": s * 3e12 / b}
           for p, r, s, b in ((1, 0.5, 0.002, 1e9), (8, 0.9, 0.004, 8e9))]
    return {
        "benchmark": "gpu_ivf_pq", "date": "2026-01-01", "commit": "abcdef0123", "dirty": False,
        "command": "bench/gpu_ivf_pq.py", "device": "NVIDIA H100 80GB HBM3",
        "cuda_runtime_torch": "13.0", "torch": "2.11", "driver": "580.1",
        "read_bandwidth_bytes_per_s": 3e12,
        "data": {"kind": "lowdim", "d": 96, "latent": 16, "clusters": 256, "noise": 0.05,
                 "seed": 0},
        "sizes": [{"n": 1_000_000, "d": 96, "nq": 10000, "k": 10, "generate_s": 1.0,
                   "torch_fp32_brute_force": {"median_s": 0.2, "qps": 50000.0, "recall": 1.0},
                   "indexes": [{"M": 48, "nlist": 1024, "code_bytes": 48, "stored_row_bytes": 48,
                                "train_n": 500000, "train_s": 3.0, "add_s": 1.0,
                                "device_bytes_after_build": 2**26, "precomputed_table": True,
                                "list_size_max": 2000, "list_size_mean": 976.6,
                                "points": pts}]}],
    }


def test_render_gpu_ivf_pq_and_its_plot_series():
    lines = render_benchmarks.gpu_ivf_pq("gpu_ivf_pq_h100.json", ivf_pq_doc())
    assert "| 8 | 0.9000 | 4.000 | 2,500,000 | 50.0x | 8,000 | 3,750,000 | 1.50x |" in lines
    series = render_benchmarks.bytes_series({"gpu_ivf_pq_h100.json": ivf_pq_doc()})
    assert series == [("knnx", "IVF1024,PQ48, 48 B/vector (H100 80GB HBM3, 1M x 96)",
                       [{"recall": 0.5, "qps": 5e6}, {"recall": 0.9, "qps": 2.5e6}])]


def test_renderer_without_a_sweep_or_matplotlib(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    (results / "gpu_ivf_pq_h100.json").write_text(json.dumps(ivf_pq_doc()))
    out = tmp_path / "docs" / "benchmarks.md"
    out.parent.mkdir()
    monkeypatch.setattr(render_benchmarks, "_mpl", lambda: None)
    monkeypatch.setattr(sys, "argv", ["render", "--results", str(results), "--out", str(out)])
    render_benchmarks.main()
    text = out.read_text()
    assert "No `bench/gpu_sweep.py` result yet" in text
    assert "### GPU IVF-PQ recall vs throughput (`gpu_ivf_pq_h100.json`)" in text
    assert "recall_qps_bytes.svg" not in text  # not drawn, and none drawn before


def test_dry_run_needs_no_gpu():
    run = subprocess.run([sys.executable, str(BENCH / "gpu_sweep.py"), "--dry-run",
                          "--sweeps", "nq", "--nq", "1", "16"], capture_output=True, text=True,
                         check=True)
    assert run.stdout.count("nq sweep") == 2


def test_latency_plan_floor_and_probed_rows():
    import gpu_latency
    args = gpu_latency.parser().parse_args(
        ["--nq", "1", "16", "--nlist", "4", "--nprobe", "1", "8", "--shared-scan", "-1", "0"])
    points = gpu_latency.plan(args)
    assert points[0] == {"index": "flat", "nq": 1}
    ivf = [p for p in points if p["index"] == "ivf"]
    assert len(ivf) == 4  # nprobe 8 > nlist 4 is dropped; 2 nq x 1 nprobe x 2 scans
    assert {p["shared_scan"] for p in ivf} == {-1, 0}
    assert gpu_latency.flat_bytes(1_000_000, 128) == 512_000_000
    assert gpu_latency.floor_ms(512e6, 3.01e12) == pytest.approx(0.1701, abs=1e-4)
    centroids = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=np.float32)
    queries = np.array([[0.1, 0.0], [9.0, 0.5]], dtype=np.float32)
    sizes = [5, 7, 11]
    assert gpu_latency.distinct_probed_rows(centroids, queries, sizes, 1) == 12
    assert gpu_latency.distinct_probed_rows(centroids, queries, sizes, 3) == 23
    assert gpu_latency.ivf_bytes(3, 12, 2) == (3 + 12) * 2 * 4


def cpu_k_sweep_doc():
    return {"benchmark": "cpu_k_sweep", "commit": "abc1234", "command": "bench/cpu_k_sweep.py",
            "cpu": "AMD EPYC", "threads": 2, "faiss": "1.15.1",
            "statistic": "median of 3 interleaved rounds",
            "sizes": {"nb": 200000, "d": 128, "nq": 1000, "nlist": 256, "nprobe": 64},
            "data": "mixture", "points": [
                {"index": "Flat", "k": 1024, "knnx_ms": 400.0, "faiss_ms": 680.0,
                 "faiss_over_knnx": 1.7, "label_sets_equal": 0.999},
                {"index": "Flat", "k": 2048, "knnx_ms": 500.0, "faiss_ms": 800.0,
                 "faiss_over_knnx": 1.6, "knnx_over_previous_k": 1.25, "label_sets_equal": 1.0},
                {"index": "IVF256,Flat", "k": 2048, "knnx_ms": 300.0, "faiss_ms": 900.0,
                 "faiss_over_knnx": 3.0, "knnx_recall": 0.9999}]}


def test_render_cpu_k_sweep():
    doc = cpu_k_sweep_doc()
    assert render_benchmarks.kind_of("cpu_k_sweep_vm.json", doc) == "cpu_k_sweep"
    lines = render_benchmarks.cpu_k_sweep("cpu_k_sweep_vm.json", doc)
    assert "| Flat | 1,024 | 400.0 | - | 680.0 | 1.70 | 0.9990 |" in lines
    assert "| Flat | 2,048 | 500.0 | 1.25 | 800.0 | 1.60 | 1.0000 |" in lines
    assert "| IVF256,Flat | 2,048 | 300.0 | - | 900.0 | 3.00 | 0.9999 |" in lines


def test_cpu_k_sweep_small_run_agrees_with_faiss(tmp_path):
    pytest.importorskip("knnx")
    pytest.importorskip("faiss")
    out = tmp_path / "k.json"
    subprocess.run([sys.executable, str(BENCH / "cpu_k_sweep.py"), "--nb", "3000", "--nq", "20",
                    "--k", "10", "300", "--nlist", "16", "--nprobe", "16", "--rounds", "1",
                    "--out", str(out)], check=True, capture_output=True, text=True)
    points = json.loads(out.read_text())["points"]
    assert [(p["index"], p["k"]) for p in points] == [
        ("Flat", 10), ("Flat", 300), ("IVF16,Flat", 10), ("IVF16,Flat", 300)]
    for p in points:
        if p["index"] == "Flat":
            assert p["kth_distance_max_rel_diff"] < 1e-4
        else:  # every list probed: the exact answer
            assert p["knnx_recall"] > 0.99


def test_render_before_after_and_large_build():
    ab = {"device": "H100", "base": "aaa1111", "new": "bbb2222", "rounds": 2,
          "statistic": "median", "cases": [
              {"case": "flat nq 1", "base_ms": 0.25, "new_ms": 0.2, "new_over_base": 0.8,
               "floor_ms": 0.17}]}
    assert render_benchmarks.kind_of("gpu_ab_x.json", ab) == "gpu_ab"
    assert "| flat nq 1 | 0.2500 | 0.2000 | 0.800 | 0.1700 |" in render_benchmarks.gpu_ab(
        "gpu_ab_x.json", ab)
    large = {"benchmark": "gpu_build_large", "commit": "ccc3333", "command": "c",
             "device": "H100", "spec": "IVF4096,PQ48",
             "sizes": {"n": 1000, "d": 4, "base_bytes": 16000, "nq": 10, "k": 10,
                       "train_size": 500},
             "build": {"seconds": 12.0, "peak_host_bytes": 2**30, "device_mib_before": 4,
                       "device_mib_peak": 1028, "index_file_bytes": 2e9,
                       "report": {"timings_s": {"train": 2.0, "add": 8.0, "write": 1.0}}},
             "load_s": 3.0, "points": [{"nprobe": 8, "recall": 0.9, "qps": 1000.0}]}
    assert render_benchmarks.kind_of("gpu_build_large_x.json", large) == "gpu_build_large"
    lines = render_benchmarks.gpu_build_large("gpu_build_large_x.json", large)
    assert "| 12 | 2.0 | 8.0 | 125 | 1.0 | 1.00 | 1,024 | 2.00 |" in lines
    assert "| 8 | 0.9000 | 1,000 |" in lines


def test_render_latency_points():
    lat = {"benchmark": "gpu_latency", "commit": "ddd4444", "command": "c", "device": "H100",
           "data": {"n": 1000, "d": 8}, "k": 10, "statistic": "median",
           "copy_bandwidth_bytes_per_s": 3e12, "points": [
               {"index": "flat", "nq": 1, "floor_ms": 0.17, "median_ms": 0.2, "x_floor": 1.18},
               {"index": "ivf", "nq": 10000, "nlist": 4096, "nprobe": 2, "shared_scan": 1,
                "floor_ms": 1.25, "median_ms": 4.95, "x_floor": 3.96}]}
    assert render_benchmarks.kind_of("gpu_latency_x.json", lat) == "gpu_latency"
    lines = render_benchmarks.gpu_latency("gpu_latency_x.json", lat)
    assert "| flat | 1 |  |  |  | 0.2000 | 0.1700 | 1.18 |" in lines
    assert "| ivf | 10,000 | 4096 | 2 | list-major | 4.9500 | 1.2500 | 3.96 |" in lines


def test_ab_sweeps_pairs_the_points_both_trees_measured():
    import ab_sweeps

    def sweep(commit, ms):
        return {"device": "H100", "commit": commit, "command": "gpu_sweep.py", "points": [
            {"index": "torch", "mode": "fp32", "nq": 10, "k": 10, "median_ms": 9.0},
            {"index": "flat", "mode": "fast-fused", "nq": 10, "k": 10, "median_ms": ms,
             "recall_vs_exact": 1.0}]}

    new = sweep("bbb2222", 30.0)
    new["points"].append({"index": "flat", "mode": "exact", "nq": 10, "k": 10, "median_ms": 1.0})
    doc = ab_sweeps.combine(sweep("aaa1111", 40.0), new)
    assert [c["case"] for c in doc["cases"]] == ["flat fast-fused nq 10 k 10"]
    assert doc["cases"][0]["new_over_base"] == 0.75
    assert render_benchmarks.kind_of("gpu_ab_y.json", doc) == "gpu_ab"
    other = sweep("aaa1111", 40.0)
    other["device"] = "H200"
    with pytest.raises(SystemExit):
        ab_sweeps.combine(other, new)


def test_render_kernel_profile():
    prof = {"benchmark": "gpu_kernel_profile", "device": "H100", "commit": "eee5555",
            "command": "c", "statistic": "one launch",
            "cases": {"flat nq 1": [{"kernel": "flat_stream_kernel<0, 0>", "grid": [1, 528, 1],
                                     "us": 211.7}]},
            "totals_us": {"flat nq 1": 211.7},
            "counters": {"flat_stream_kernel": {"DRAM Throughput (%)": 73.54}}}
    assert render_benchmarks.kind_of("gpu_profile_x.json", prof) == "gpu_kernel_profile"
    lines = render_benchmarks.gpu_kernel_profile("gpu_profile_x.json", prof)
    assert "| flat nq 1 | flat_stream_kernel 211.7 | 211.7 |" in lines
    assert "| DRAM Throughput (%) | 73.54 |" in lines


def test_kernel_profile_pairs_marked_searches_with_their_labels():
    import kernel_profile

    def row(i, name, grid, unit, value):
        return (f'"{i}","{name}","{grid}","gpu__time_duration.sum","{unit}","{value}"')

    fill = ("void at::native::vectorized_elementwise_kernel<4, at::native::FillFunctor<float>, "
            "std::array<char *, 1>>(int, T2, T3)")
    csv_lines = ['"ID","Kernel Name","Grid Size","Metric Name","Metric Unit","Metric Value"',
                 row(0, "void knnx::<unnamed>::flat_stream_kernel<0, 0>(const float4 *, long)",
                     "(1, 528, 1)", "usecond", "212.5"),  # a warm-up: outside the markers
                 row(1, fill, "(1, 1, 1)", "nsecond", "1,984"),
                 row(2, "void knnx::<unnamed>::flat_stream_kernel<0, 0>(const float4 *, long)",
                     "(1, 528, 1)", "usecond", "210.5"),
                 row(3, fill, "(1, 1, 1)", "nsecond", "1,920"),
                 row(4, fill, "(1, 1, 1)", "nsecond", "1,920"),
                 row(5, "knnx::<unnamed>::merge_kernel<4>(const unsigned int *, int)",
                     "(10000, 1, 1)", "msecond", "0.0415"),
                 row(6, fill, "(1, 1, 1)", "nsecond", "1,900")]
    kernels = kernel_profile.read_times(["==PROF== noise"] + csv_lines)
    assert kernels[0] == {"id": 0, "kernel": "flat_stream_kernel<0, 0>", "grid": [1, 528, 1],
                          "us": 212.5}
    labels = kernel_profile.read_labels(["rates", "kept: Flat exact nq 1", "kept: IVF nprobe 1"])
    report = """==PROF== Profiling "flat_stream_kernel": 0%....100% - 20 passes
  void unnamed>::flat_stream_kernel<0, 0>(const float4 *, long) (1, 528, 1)x(256, 1, 1)
    Section: GPU Speed Of Light Throughput
    DRAM Throughput                   %          73.54
    Duration                         us         211.71
==PROF== Disconnected from process 1
"""
    doc = kernel_profile.profile_doc(kernels, labels, report, "H100", "abc1234", "c",
                                     ["flat_stream_kernel", "fused_candidates_kernel"])
    assert doc["totals_us"] == {"Flat exact nq 1": 210.5, "IVF nprobe 1": 41.5}
    assert doc["cases"]["IVF nprobe 1"] == [{"kernel": "merge_kernel<4>", "grid": [10000, 1, 1],
                                             "us": 41.5}]
    assert doc["counters"]["flat_stream_kernel"] == {"DRAM Throughput (%)": 73.54,
                                                     "Duration (us)": 211.71}
    assert doc["counters"]["fused_candidates_kernel"] == {}
    assert render_benchmarks.kind_of("gpu_profile_kernels_x.json", doc) == "gpu_kernel_profile"
    with pytest.raises(ValueError, match="3 marker kernels for 2"):
        kernel_profile.profile_doc(kernels[:-1], labels, report, "H100", "a", "c", [])
    with pytest.raises(ValueError, match="unknown time unit"):
        kernel_profile.read_times([csv_lines[0], row(0, "k(int)", "(1, 1, 1)", "cycle", "5")])
