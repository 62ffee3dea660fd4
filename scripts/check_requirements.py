"""Which requirements of a requirements file the running Python does not satisfy, without the network.

    python scripts/check_requirements.py requirements.txt

Exit status 0 when every requirement (for this platform and Python) is installed in a matching
version; otherwise 1, with one line per missing or mismatched package, by name. scripts/dev.sh
runs it first and calls pip only for what is missing, so a machine that already has everything
(a GPU node with torch preinstalled, an offline cluster) never touches the network.
"""

from __future__ import annotations

import sys
from importlib import metadata

try:
    from packaging.requirements import Requirement
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.requirements import Requirement


def requirement_lines(path: str):
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                yield line


def unmet(path: str) -> list[str]:
    problems = []
    for line in requirement_lines(path):
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{requirement.name}: not installed (wanted {line})")
            continue
        if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
            problems.append(f"{requirement.name}: {installed} installed, {line} wanted")
    return problems


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    problems = unmet(sys.argv[1])
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
