# Sourced by the before/after scripts (ab_latency.sh, ab_seam.sh): unpacks the base tree.
# ab_base_tree NAME BASE: sets base_tree (a fresh directory holding BASE's sources) and
# base_name; BASE is a commit of this repository (needs .git) or a tarball made by
# `git archive -o base.tar BASE` (for a copy of the tree without .git). NAME prefixes errors.
ab_base_tree() {
  local name=$1 base=$2
  base_tree=$(mktemp -d)
  if [[ -f $base ]]; then
    tar -xf "$base" -C "$base_tree"
    base_name=$(basename "$base")
  elif git rev-parse --verify -q "$base^{commit}" >/dev/null 2>&1; then
    git archive "$base" | tar -xf - -C "$base_tree"
    base_name=$(git rev-parse --short "$base")
  else
    echo "$name: $base is neither a file nor a commit here (no .git?): pass a tarball made by" \
      "\`git archive -o base.tar $base\` in the repository root" >&2
    exit 2
  fi
}
