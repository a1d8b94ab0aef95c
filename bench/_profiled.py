"""Run a module or script under pyinstrument (`python bench/_profiled.py -m MODULE ARGS...`), report
to the path in $BENCH_PROFILE_OUT (.txt and .html) when the module returns or exits. The benches'
`--profile` uses it to see where a server's time goes per call (pyinstrument is in the `bench` extra)."""

from __future__ import annotations

import os
import runpy
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    if len(sys.argv) < 2 or (sys.argv[1] == "-m" and len(sys.argv) < 3):
        raise SystemExit("usage: _profiled.py (-m MODULE | SCRIPT) [ARGS...] (report in $BENCH_PROFILE_OUT)")
    out = Path(os.environ.get("BENCH_PROFILE_OUT", "profile"))
    from pyinstrument import Profiler  # the bench extra: only needed when profiling

    module = sys.argv[2] if sys.argv[1] == "-m" else None
    sys.argv = sys.argv[2:] if module else sys.argv[1:]
    profiler = Profiler(interval=0.0005, async_mode="disabled")

    def report() -> None:
        if not profiler.is_running:
            return
        profiler.stop()
        # The MCP stdio client kills a server that has not exited 4 s after stdin closed, and rendering
        # takes longer: a detached child writes the report while this process exits at once.
        if hasattr(os, "fork") and os.fork() != 0:
            os._exit(0)
        if hasattr(os, "setsid"):
            os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # let go of the client's pipes
            os.dup2(null, fd)
        out.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False))
        out.with_suffix(".html").write_text(profiler.output_html())
        os._exit(0)

    def on_term(signum: int, frame: FrameType | None) -> None:
        report()

    signal.signal(signal.SIGTERM, on_term)
    profiler.start()
    try:
        if module:
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit:
        pass
    finally:
        report()


if __name__ == "__main__":
    main()
