"""Local paths for download_file / upload_file: stdio only, and only inside the configured allowed dirs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from box_mcp.errors import ToolInputError


class LocalScope(Protocol):
    """What decides whether a local path may be used: a ToolContext, or LocalRules before a call runs."""

    @property
    def transport(self) -> str: ...
    @property
    def allowed_dirs(self) -> Sequence[Path]: ...
    @property
    def protected_paths(self) -> Sequence[Path]: ...


@dataclass(frozen=True, slots=True)
class LocalRules:
    transport: str
    allowed_dirs: tuple[Path, ...]
    protected_paths: tuple[Path, ...]


def confine_path(ctx: LocalScope, raw: str, *, field: str, must_exist: bool) -> Path:
    """Resolve `raw` (symlinks included) and refuse it unless it lies inside an allowed directory."""
    if ctx.transport != "stdio":
        raise ToolInputError(
            f"{field}: local paths are only accepted over stdio (this call came over {ctx.transport}); "
            "send the content inline instead (content_text or content_base64)"
        )
    if not ctx.allowed_dirs:
        raise ToolInputError(
            f"{field}: no local directory is allowed on this server; whoever runs box-mcp can restart it "
            "with --allowed-dir DIR (an upload can send content_text or content_base64 instead)"
        )
    if "\x00" in raw:
        raise ToolInputError(f"{field}: the path contains a NUL byte")
    path = Path(os.path.expanduser(raw))
    if not path.is_absolute():
        raise ToolInputError(f"{field}: give an absolute path inside one of: {_dirs(ctx)}")
    # strict=False: a download target may not exist yet; its parent must resolve inside a root.
    resolved = path.resolve(strict=False)
    for root in ctx.allowed_dirs:
        base = root.resolve(strict=False)
        if resolved == base or base in resolved.parents:
            break
    else:
        raise ToolInputError(f"{field}: {raw!r} is outside the allowed directories ({_dirs(ctx)})")
    for own in ctx.protected_paths:
        mine = own.resolve(strict=False)
        if resolved == mine or mine in resolved.parents:
            # The vault, the audit log and the policy: an agent must not read them out or rewrite them.
            raise ToolInputError(f"{field}: {raw!r} lies in box-mcp's own files; choose another path")
    try:  # a name too long for this file system, a parent we may not search: say so now, not mid-call
        os.stat(resolved)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise ToolInputError(f"{field}: {str(resolved)!r} cannot be used ({exc.strerror})") from None
    if must_exist and not resolved.is_file():
        raise ToolInputError(f"{field}: no readable file at {raw!r}")
    return resolved


def _dirs(ctx: LocalScope) -> str:
    return ", ".join(str(d) for d in ctx.allowed_dirs)
