"""Run every benchmark in bench/ and rewrite BENCHMARKS.md (`make bench`)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> None:
    quick = "--quick" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]  # e.g. `python -m bench scale`
    here = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(here)])):
        if not module.startswith("bench_") or module == "bench_server":
            continue
        if only and module.removeprefix("bench_") not in only:
            continue
        print(f"== {module}", flush=True)
        bench = importlib.import_module(f"bench.{module}")
        sys.argv = [module, *(["--quick"] if quick else [])]
        bench.main()
    if not only:
        from bench.goals import write_goals

        print(write_goals())


if __name__ == "__main__":
    main()
