"""Merges gpu_flat_bench and torch_flat_baseline outputs into one result file with ratios.

usage: combine_gpu_flat.py OUT.json --knnx a.json [...] --torch b.json [...] --commit C --command "..."
Prints a markdown table (knnx time, PyTorch time, speed-up, floor ratio for nq = 1).
"""
import argparse
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--knnx", nargs="+", required=True)
    p.add_argument("--torch", nargs="+", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--command", required=True)
    args = p.parse_args()
    knnx_runs = [json.load(open(f)) for f in args.knnx]
    torch_runs = {(r["n"], r["d"]): r for r in (json.load(open(f)) for f in args.torch)}
    combined = {"benchmark": "gpu_flat", "commit": args.commit, "command": args.command,
                "baseline": "PyTorch x @ y.T + topk (fp32; tf32 allowed for the fast rows)",
                "runs": []}
    lines = ["| N | d | nq | k | knnx mode | knnx ms | PyTorch ms | speed-up | x floor "
             "| recall vs f64 | max rel. error |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in knnx_runs:
        t = torch_runs.get((run["n"], run["d"]), {"results": []})
        by_key = {(r["nq"], r["k"], r["mode"]): r for r in t["results"]}
        entry = dict(run)
        entry["torch"] = t.get("torch")
        for r in entry["results"]:
            base_mode = "tf32" if r["mode"] == "fast" else "fp32"
            b = by_key.get((r["nq"], r["k"], base_mode))
            if b:
                r["torch_median_ms"] = b["median_ms"]
                r["speedup_vs_torch"] = b["median_ms"] / r["median_ms"]
            if r["nq"] == 1:
                r["x_memory_floor"] = r["median_ms"] / run["memory_floor_ms"]
            lines.append("| {} | {} | {} | {} | {} | {:.3f} | {} | {} | {} | {} | {} |".format(
                run["n"], run["d"], r["nq"], r["k"], r["mode"], r["median_ms"],
                f"{b['median_ms']:.3f}" if b else "-",
                f"{r['speedup_vs_torch']:.2f}x" if b else "-",
                f"{r['x_memory_floor']:.2f}" if "x_memory_floor" in r else "",
                f"{r['recall_vs_float64']:.6f}" if "recall_vs_float64" in r else "",
                f"{r['max_rel_dist_error_vs_float64']:.1e}"
                if "max_rel_dist_error_vs_float64" in r else ""))
        combined["runs"].append(entry)
    with open(args.out, "w") as f:
        json.dump(combined, f, indent=2)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
