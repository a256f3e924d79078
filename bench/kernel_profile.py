"""The JSON of bench/gpu_profile.sh (benchmark "gpu_kernel_profile", rendered by
bench/render_benchmarks.py) from Nsight Compute's output: the kernel times of
bench/gpu_profile_driver.py's searches (ncu --csv --metrics gpu__time_duration.sum) and the
counter sections of single launches (ncu's text report).

Each search kept by the driver lies between two marker kernels (MARKER, a PyTorch fill); the
driver prints the kept searches' labels ("kept: <label>") in the same order.

    python3 bench/kernel_profile.py --times kernel_times.csv --labels driver.log \\
        --detail kernel_detail.txt --device "NVIDIA H100 80GB HBM3" --commit abc1234 \\
        --out gpu_profile_kernels.json
"""

import argparse
import csv
import json
import re
from pathlib import Path

MARKER = "FillFunctor"
COUNTERS = ("Duration", "DRAM Throughput", "L2 Cache Throughput", "Compute (SM) Throughput",
            "Executed Ipc Active", "Issue Slots Busy", "Achieved Occupancy",
            "Registers Per Thread", "Warp Cycles Per Issued Instruction",
            "Eligible Warps Per Scheduler", "L2 Hit Rate", "Dynamic Shared Memory Per Block")
TO_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}


def short_name(kernel):
    """'void knnx::<unnamed>::merge_kernel<4>(const float *, ...)' -> 'merge_kernel<4>'."""
    name = re.sub(r"^void ", "", kernel.strip())
    depth, cut = 0, len(name)
    for i, c in enumerate(name):  # drop the parameter list, the first '(' outside <...>
        depth += (c == "<") - (c == ">")
        if c == "(" and depth == 0:
            cut = i
            break
    return re.sub(r"^(?:[\w]+::|<unnamed>::)+", "", name[:cut].strip())


def read_times(lines):
    """Kernels of ncu's CSV, in launch order: dicts of id, kernel, grid and us."""
    rows = csv.DictReader(line for line in lines if line.startswith('"'))
    kernels = []
    for r in rows:
        if r.get("Metric Name") != "gpu__time_duration.sum":
            continue
        unit = r["Metric Unit"]
        if unit not in TO_US:
            raise ValueError(f"unknown time unit {unit!r} in ncu's output")
        grid = [int(g) for g in re.findall(r"\d+", r["Grid Size"])]
        kernels.append({"id": int(r["ID"]), "kernel": short_name(r["Kernel Name"]),
                        "grid": grid, "us": float(r["Metric Value"].replace(",", "")) * TO_US[unit]})
    return kernels


def kept_searches(kernels, labels):
    """{label: the kernels between the i-th pair of markers} for the driver's labels in order."""
    marks = [i for i, k in enumerate(kernels) if MARKER in k["kernel"]]
    if len(marks) != 2 * len(labels):
        raise ValueError(f"{len(marks)} marker kernels for {len(labels)} kept searches")
    return {label: kernels[marks[2 * i] + 1:marks[2 * i + 1]] for i, label in enumerate(labels)}


def read_labels(lines):
    return [line.split("kept: ", 1)[1].strip() for line in lines if line.startswith("kept: ")]


def counters(report, kernel):
    """The COUNTERS of the first launch of `kernel` in ncu's text report, named with units."""
    # The launch's header ("  void ...::name<...>(...) (grid)x(block), Context ..."), not ncu's
    # progress lines ('==PROF== Profiling "name": ...'); its sections run to the next ==PROF==.
    head = re.search(r"^[ \t]+(?:void )?\S*\b" + re.escape(kernel) + r"[<(]", report, re.M)
    if head is None:
        return {}
    end = report.find("==PROF==", head.start())
    block = report[head.start():end if end > 0 else len(report)]
    out = {}
    for name in COUNTERS:
        m = re.search(r"^\s+" + re.escape(name) + r"\s+(\S+)\s+([\d.,]+)\s*$", block, re.M)
        if m:
            out[f"{name} ({m[1]})"] = float(m[2].replace(",", ""))
    m = re.search(r"Tensor is the highest-utilized pipeline \(([\d.]+)%\)", block)
    if m:
        out["tensor pipe utilisation (%)"] = float(m[1])
    return out


def profile_doc(kernels, labels, report, device, commit, command, detail_kernels):
    found = {c: [{key: k[key] for key in ("kernel", "grid", "us")} for k in ks]
             for c, ks in kept_searches(kernels, labels).items()}
    return {"benchmark": "gpu_kernel_profile", "device": device, "commit": commit,
            "command": command,
            "statistic": "each kernel of one search, after a warm-up search; ncu serialises "
                         "kernels, so times exclude overlap and host gaps",
            "cases": found,
            "totals_us": {c: round(sum(k["us"] for k in ks), 1) for c, ks in found.items()},
            "counters": {k: counters(report, k) for k in detail_kernels}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--times", type=Path, required=True)
    p.add_argument("--labels", type=Path, required=True, help="the driver's output")
    p.add_argument("--detail", type=Path)
    p.add_argument("--device", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--command", default="bench/gpu_profile.sh")
    p.add_argument("--detail-kernels", nargs="*",
                   default=["fused_candidates_kernel", "flat_stream_kernel"])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    kernels = read_times(args.times.read_text().splitlines())
    labels = read_labels(args.labels.read_text().splitlines())
    report = args.detail.read_text() if args.detail else ""
    doc = profile_doc(kernels, labels, report, args.device, args.commit, args.command,
                      args.detail_kernels)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for c, total in doc["totals_us"].items():
        print(f"{c:<50} {total:12.1f} us")


if __name__ == "__main__":
    main()
