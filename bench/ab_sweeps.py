"""Before/after file from two bench/gpu_sweep.py results run in one device call, one with the
base tree's module and one with the new tree's: each (index, mode, nq, k) point both measured,
base and new median ms, new / base, and both recalls against exact search. Writes the
before/after form that bench/render_benchmarks.py renders (gpu_ab).

    python3 bench/ab_sweeps.py base.json new.json --out bench/results/gpu_ab_<what>_h100.json
"""

import argparse
import json
from pathlib import Path


def key(p):
    return (p["index"], p["mode"], p["nq"], p["k"])


def combine(base, new):
    if base.get("device") != new.get("device"):
        raise SystemExit(f"different devices: {base.get('device')} / {new.get('device')}")
    old = {key(p): p for p in base["points"] if p["index"] != "torch"}
    cases = []
    for p in new["points"]:
        b = old.get(key(p))
        if b is None:
            continue
        cases.append({"case": f"{p['index']} {p['mode']} nq {p['nq']} k {p['k']}",
                      "base_ms": b["median_ms"], "new_ms": p["median_ms"],
                      "new_over_base": p["median_ms"] / b["median_ms"],
                      "base_recall_vs_exact": b.get("recall_vs_exact"),
                      "new_recall_vs_exact": p.get("recall_vs_exact")})
    if not cases:
        raise SystemExit("no point was measured with both trees")
    return {"benchmark": "gpu_ab_sweep", "device": new["device"], "base": base["commit"],
            "new": new["commit"], "rounds": 1,
            "statistic": "gpu_sweep.py's median of its reps, base run after new in the same call",
            "command": f"base: {base['command']}; new: {new['command']}", "cases": cases}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("base", type=Path)
    p.add_argument("new", type=Path)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    doc = combine(json.loads(args.base.read_text()), json.loads(args.new.read_text()))
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    for c in doc["cases"]:
        print(f"{c['case']:<40} {c['base_ms']:9.2f} {c['new_ms']:9.2f} {c['new_over_base']:6.3f}")


if __name__ == "__main__":
    main()
