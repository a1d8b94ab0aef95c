"""One settings model for a box-mcp deployment: environment (BOX_MCP_*) first, command-line flags override."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from box_mcp.errors import ConfigError

REAL_BOX_API = "https://api.box.com"
REAL_BOX_UPLOAD = "https://upload.box.com/api"

# setting -> (environment variable, kind). Lists split on commas; allowed dirs on os.pathsep.
ENV: dict[str, tuple[str, str]] = {
    "transport": ("BOX_MCP_TRANSPORT", "str"),
    "host": ("BOX_MCP_HOST", "str"),
    "port": ("BOX_MCP_PORT", "str"),
    "box_url": ("BOX_MCP_BOX_URL", "str"),
    "policy": ("BOX_MCP_POLICY", "str"),
    "agent": ("BOX_MCP_AGENT", "str"),
    "data_dir": ("BOX_MCP_DATA_DIR", "str"),
    "allowed_dirs": ("BOX_MCP_ALLOWED_DIRS", "paths"),
    "toolsets": ("BOX_MCP_TOOLSETS", "list"),
    "tools": ("BOX_MCP_TOOLS", "list"),
    "exclude_tools": ("BOX_MCP_EXCLUDE_TOOLS", "list"),
    "read_only": ("BOX_MCP_READ_ONLY", "bool"),
    "allowed_hosts": ("BOX_MCP_ALLOWED_HOSTS", "list"),
    "developer_token": ("BOX_DEVELOPER_TOKEN", "str"),
}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("box-mcp"))


class Settings(BaseModel):
    """A deployment's settings. `developer_token` is a SecretStr: it never shows in repr or logs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    transport: Literal["stdio", "http"] = "stdio"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    box_url: str | None = Field(None, description="A Box emulator's base URL; None means real Box")
    policy: Path | None = None
    agent: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.@-]+$",
        description="Agent for stdio and unauthenticated loopback HTTP; None: the policy's default_agent",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    allowed_dirs: tuple[Path, ...] = ()
    toolsets: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    exclude_tools: tuple[str, ...] = ()
    read_only: bool = False
    allowed_hosts: tuple[str, ...] = Field((), description="Extra Host values accepted over HTTP (host:port)")
    developer_token: SecretStr | None = None

    @field_validator("box_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("allowed_dirs")
    @classmethod
    def _dirs(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(Path(os.path.expanduser(str(p))).resolve() for p in value)

    def check_paths(self) -> None:
        """At start-up: every allowed dir must be a directory this process can write (download_file
        saves there), so a typo fails now, not on an agent's first download."""
        for path in self.allowed_dirs:
            where = f"--allowed-dir / BOX_MCP_ALLOWED_DIRS {path}"
            if not path.exists():
                raise ConfigError(f"{where}: no such directory (create it, or correct the path)")
            if not path.is_dir():
                raise ConfigError(f"{where}: not a directory (give the folder files may be saved in)")
            if not os.access(path, os.W_OK | os.X_OK):
                raise ConfigError(f"{where}: not writable by this user (fix its permissions or pick another)")

    @property
    def api_url(self) -> str:
        return self.box_url or REAL_BOX_API

    @property
    def upload_url(self) -> str:
        # The emulator serves the upload paths on its one host, under the same /api prefix Box uses.
        return f"{self.box_url}/api" if self.box_url else REAL_BOX_UPLOAD

    @property
    def loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """Environment first, then every flag that is not None. Bad values raise ConfigError naming them."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for name, (var, kind) in ENV.items():
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _parse(raw, kind)
        values.update({k: v for k, v in flags.items() if v is not None})
        try:
            return cls(**values)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])} ({_source(str(e['loc'][0]))}): {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigError(f"bad settings: {problems}") from None


def _source(name: str) -> str:
    var = ENV.get(name, ("", ""))[0]
    return f"--{name.replace('_', '-')} or {var}" if var else f"--{name.replace('_', '-')}"


def _parse(raw: str, kind: str) -> Any:
    if kind == "list":
        return tuple(part.strip() for part in raw.split(",") if part.strip())
    if kind == "paths":
        return tuple(Path(part) for part in raw.split(os.pathsep) if part)
    if kind == "bool":
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
