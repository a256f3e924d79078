"""Flattening of a benchmark program's JSON into named timings, shared by the A/B scripts
(bench/ab_seam.sh, bench/ab_playbook.sh)."""


def timings(node, path, acc):
    """Every *_ms number under node, named by its path; array entries are named by their
    identifying fields (ints and strings that are not timings), e.g. points[n_probe=4]."""
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, (int, float)) and key.endswith("_ms"):
                acc[path + "/" + key] = float(value)
            else:
                timings(value, path + "/" + key, acc)
    elif isinstance(node, list):
        for i, item in enumerate(node):
            label = str(i)
            if isinstance(item, dict):
                ids = [f"{k}={v}" for k, v in item.items()
                       if isinstance(v, (int, str)) and not isinstance(v, bool)
                       and not k.endswith("_ms")]
                label = ",".join(ids) or label
            timings(item, f"{path}[{label}]", acc)
    return acc
