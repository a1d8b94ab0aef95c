"""Run every benchmark in this folder, one after another: `python -m bench [--quick] [NAME ...]`.

Each benchmark is also a script of its own (`python bench/<name>.py --help`); this runner only saves
typing. Every benchmark prints its figures next to a baseline measured in the same run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    flags = [a for a in argv if a.startswith("--")]  # --quick, --json: handed to every benchmark
    argv = [a for a in argv if not a.startswith("--")]
    names = argv or sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith("_"))
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.is_file():
            print(f"no benchmark named {name!r}; have: {', '.join(p.stem for p in HERE.glob('[!_]*.py'))}")
            return 2
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(script), *flags], check=False).returncode != 0:  # noqa: S603
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
