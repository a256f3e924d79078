"""The knnx command-line tool: `python -m knnx ARGS` and the `knnx` console command run the
same program as the C++ `knnx` binary, which ships inside the package (knnx/bin/knnx)."""

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def cli_path():
    """The knnx binary: knnx/bin/knnx in an installed package, or cli/knnx of the CMake build
    tree a development build's package (<build>/python/knnx) sits in; None when neither exists."""
    for candidate in (_PACKAGE / "bin" / "knnx", _PACKAGE.parent.parent / "cli" / "knnx"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def main(argv=None):
    """Replace this process with the knnx binary (exit codes and output are the binary's);
    exit code 1 with a message when this package was built without it."""
    args = sys.argv[1:] if argv is None else list(argv)
    path = cli_path()
    if path is None:
        print(
            "knnx: error: this knnx package was built without the command-line tool "
            "(KNNX_BUILD_CLI=OFF); reinstall with `pip install .` from the repository, which "
            "includes it",
            file=sys.stderr,
        )
        return 1
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(str(path), [str(path), *args])
    return 1  # not reached: execv replaces the process or raises OSError


if __name__ == "__main__":
    sys.exit(main())
