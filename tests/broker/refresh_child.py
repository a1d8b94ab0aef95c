"""Child process for the SIGKILL test: refresh the stored grant and kill itself at one rotation step.

Usage: python refresh_child.py DATA_DIR BOX_URL STEP   (vault key and OAuth client come from the env)
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio

from box_mcp.broker import Broker, IdentitySpec
from box_mcp.config import Settings


def main() -> int:
    data_dir, box_url, step = sys.argv[1:4]

    def hook(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: exactly a crash

    async def run() -> None:
        broker = Broker.from_settings(
            Settings.load(env=os.environ, data_dir=Path(data_dir), box_url=box_url), step_hook=hook
        )
        try:
            await (await broker.token_source(IdentitySpec(kind="user_grant"))).access_token()
        finally:
            await broker.aclose()

    anyio.run(run)
    return 0  # reached only if STEP never happened


if __name__ == "__main__":
    sys.exit(main())
