"""One settings model for a box-mcp deployment: environment first (BOX_MCP_*, and Box's own BOX_*
variables), command-line flags override. The only module of box_mcp that reads the environment.

A leaf module (it imports only `errors`), so every layer may read the real Box URLs defined here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import platformdirs
from pydantic import (
    AliasChoices,
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from box_mcp.errors import ConfigError

# Real Box, in one place: the API, upload and account (sign-in) hosts.
REAL_BOX_API = "https://api.box.com"
REAL_BOX_UPLOAD = "https://upload.box.com/api"
REAL_BOX_AUTHORIZE = "https://account.box.com/api/oauth2/authorize"

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def default_data_dir() -> Path:
    """The per-user data directory; `BOX_MCP_DATA_DIR` (Settings.data_dir) replaces it."""
    return Path(platformdirs.user_data_dir("box-mcp"))


def mask_url(url: str) -> str:
    """`url` with any password (in the authority or as a ?password= parameter) replaced by ***."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        netloc = f"{user}{':***' if colon else ''}@{hostport}"
    query = "&".join(
        f"{name}=***" if name.lower() == "password" else f"{name}={value}" if sep else name
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def parse_bool(value: object) -> bool:
    """The one boolean spelling: 1/0, true/false, yes/no, on/off (any case); anything else is refused."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{str(value)[:40]!r} is not a yes/no value: use 1/0, true/false, yes/no or on/off")


def _split(sep: str) -> BeforeValidator:
    def split(value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(sep) if part.strip())
        return value

    return BeforeValidator(split)


def _blank_is_none(value: object) -> object:
    """Box's variables are stripped, and one holding only spaces counts as unset."""
    if isinstance(value, str):
        return value.strip() or None
    return value


Words = Annotated[tuple[str, ...], NoDecode, _split(",")]
Flag = Annotated[bool, BeforeValidator(parse_bool)]
BoxText = Annotated[str | None, BeforeValidator(_blank_is_none)]
BoxSecret = Annotated[SecretStr | None, BeforeValidator(_blank_is_none)]


def _box(var: str) -> Any:
    """A field read from one of Box's own variables (no BOX_MCP_ prefix)."""
    return Field(None, validation_alias=AliasChoices(var.lower(), var))


class Settings(BaseSettings):
    """A deployment's settings. Secrets are SecretStr: they never show in repr, str or logs."""

    model_config = SettingsConfigDict(
        env_prefix="BOX_MCP_",
        frozen=True,
        extra="forbid",
        env_ignore_empty=True,
        populate_by_name=True,
    )

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
    allowed_dirs: Annotated[tuple[Path, ...], NoDecode, _split(os.pathsep)] = ()
    toolsets: Words = ()
    tools: Words = ()
    exclude_tools: Words = ()
    read_only: Flag = False
    allowed_hosts: Words = Field((), description="Extra Host values accepted over HTTP (host:port)")
    public_url: str | None = Field(
        None, description="The base URL clients reach this server at (behind a proxy or tunnel)"
    )
    oauth_access_ttl: int = Field(3600, ge=60, le=86400, description="Lifetime of an OAuth access token (s)")
    downscope: Flag = Field(True, description="False: every call runs on its identity's base token")
    audit_key_file: Path | None = Field(None, description="HMAC key sealing audit records (audit new-key)")
    vault_key: SecretStr | None = Field(None, description="urlsafe base64, 32 bytes; else DATA_DIR/vault.key")
    database_url: SecretStr | None = Field(
        None, description="postgresql://user:password@host/db: vault in PostgreSQL; None: SQLite in data_dir"
    )
    replica_url: str | None = Field(
        None,
        description="This replica's own address for the others (http://HOST:PORT), used with database_url; "
        "None: http://127.0.0.1:PORT on loopback",
    )
    telemetry: Literal["off", "otlp"] = Field(
        "off",
        description="otlp: traces and metrics by OTLP/HTTP (OTEL_EXPORTER_OTLP_* and OTEL_SERVICE_NAME "
        "honoured; needs the `telemetry` extra); off: no OpenTelemetry at all",
    )
    audit_sink: SecretStr | None = Field(
        None,
        description="https://... (JSON lines POSTed in batches) or syslog://host:port / "
        "syslog+tcp://host:port (RFC 5424): every audit record streamed there, at least once",
    )
    watch: Literal["off", "webhooks", "events"] = Field(
        "off",
        description="Watch Box for changes (box_mcp.watch): webhooks (HTTP: signed deliveries to "
        "/box/webhooks; `box-mcp webhooks ensure` registers them), events (the events API long-poll, for "
        "a deployment Box cannot reach, e.g. stdio), or off",
    )
    webhook_primary_key: SecretStr | None = Field(
        None, description="The Box app's primary webhook signature key (developer console: Webhooks)"
    )
    webhook_secondary_key: SecretStr | None = Field(
        None, description="The Box app's secondary webhook signature key: either valid key is enough"
    )
    # Box's app credentials, under Box's own names; broker.config.BrokerSettings.from_settings reads them.
    developer_token: BoxSecret = _box("BOX_DEVELOPER_TOKEN")
    jwt_config_file: BoxText = _box("BOX_JWT_CONFIG_FILE")
    client_id: BoxText = _box("BOX_CLIENT_ID")
    client_secret: BoxSecret = _box("BOX_CLIENT_SECRET")
    enterprise_id: BoxText = _box("BOX_ENTERPRISE_ID")
    subject_type: BoxText = _box("BOX_SUBJECT_TYPE")
    subject_id: BoxText = _box("BOX_SUBJECT_ID")
    oauth_client_id: BoxText = _box("BOX_OAUTH_CLIENT_ID")
    oauth_client_secret: BoxSecret = _box("BOX_OAUTH_CLIENT_SECRET")

    @field_validator("box_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://box-mcp.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must have no query, fragment or user info (only scheme, host, port and path)")
        if parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("must be https (OAuth clients refuse a plain-http server off loopback)")
        return value.rstrip("/")

    def base_url(self, port: int) -> str:
        """The URL this server's pages and metadata are named under: --public-url, else the bind address
        and `port` (the one actually bound)."""
        if self.public_url is not None:
            return self.public_url
        host = self.host if self.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    @field_validator("replica_url")
    @classmethod
    def _replica_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as http://10.0.0.5:8000")
        if parts.path.strip("/") or parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be only scheme, host and port (the replica's /mcp is found under it)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _replica_url_needed(self) -> Settings:
        if self.transport == "http" and self.database_url is not None and self.replica_url is None:
            self.replica_address(self.port)  # raises when it cannot be derived
        return self

    @model_validator(mode="after")
    def _watch_needs(self) -> Settings:
        if (
            self.watch == "webhooks"
            and self.webhook_primary_key is None
            and self.webhook_secondary_key is None
        ):
            raise ValueError(
                "BOX_MCP_WATCH=webhooks needs the app's signature keys: set BOX_MCP_WEBHOOK_PRIMARY_KEY and "
                "BOX_MCP_WEBHOOK_SECONDARY_KEY (Box developer console: your app, Webhooks, Manage signature "
                "keys)"
            )
        return self

    @property
    def webhook_keys(self) -> tuple[bytes, ...]:
        """The configured signature keys (primary first), for the webhook receiver only."""
        keys = (self.webhook_primary_key, self.webhook_secondary_key)
        return tuple(k.get_secret_value().encode() for k in keys if k is not None and k.get_secret_value())

    def replica_address(self, port: int) -> str:
        """Where the other replicas reach this one (bound on `port`): --replica-url, else loopback."""
        if self.replica_url is not None:
            return self.replica_url
        if not self.loopback:
            raise ConfigError(
                f"BOX_MCP_REPLICA_URL (--replica-url) is required with BOX_MCP_DATABASE_URL when serving on "
                f"{self.host}: the other replicas forward the requests of this replica's MCP sessions to it, "
                "so give the address they reach it at, e.g. http://10.0.0.5:8000 (the pod or host IP, port)"
            )
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_url(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not text.startswith(("postgresql://", "postgres://")):
            # Never echo the value: it may hold a password.
            raise ValueError("must be a URL starting with postgresql:// (postgresql://user:password@host/db)")
        return value

    @property
    def database_url_display(self) -> str | None:
        """The database URL with its password masked: what a summary or an error may show."""
        return None if self.database_url is None else mask_url(self.database_url.get_secret_value())

    @field_validator("allowed_dirs")
    @classmethod
    def _dirs(cls, value: tuple[Path, ...]) -> tuple[Path, ...]:
        return tuple(Path(os.path.expanduser(str(p))).resolve() for p in value)

    @field_validator("data_dir", "audit_key_file")
    @classmethod
    def _home(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

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
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments (flags) first, then the environment: os.environ, or the mapping `load` was given.
        No .env or secrets directory: a deployment's environment is the one place."""
        return init_settings, _Environment(settings_cls, _GIVEN_ENV.get())

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **flags: Any) -> Settings:
        """The environment (or `env`, when given), then every flag that is not None.
        Bad values raise ConfigError naming the flag and the variable."""
        given = _GIVEN_ENV.set(env)
        try:
            return cls(**{k: v for k, v in flags.items() if v is not None})
        except ValidationError as exc:
            problems = "; ".join(
                f"{_name(e['loc'])} ({_source(_name(e['loc'][:1]))}): {e['msg']}"
                for e in exc.errors(include_input=False, include_url=False)
            )
            raise ConfigError(f"bad settings: {problems}") from None
        finally:
            _GIVEN_ENV.reset(given)


# The environment `Settings.load(env=...)` was given, for the one construction it makes (tests pass a
# mapping; None is the process's own environment).
_GIVEN_ENV: ContextVar[Mapping[str, str] | None] = ContextVar("box_mcp_settings_env", default=None)


class _Environment(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (os.environ when none is given)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str] | None) -> None:
        self._given = env
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        if self._given is None:
            return super()._load_env_vars()
        given = self._given
        return parse_env_vars(given, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


def env_var(name: str) -> str:
    """The environment variable of a setting: BOX_MCP_<NAME>, or Box's own name for its credentials."""
    alias = Settings.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[-1])
    return f"BOX_MCP_{name.upper()}"


# Settings that have a command-line flag (serve's, mostly), for error messages.
_FLAGS = frozenset(
    {
        "transport",
        "host",
        "port",
        "box_url",
        "policy",
        "agent",
        "data_dir",
        "allowed_dirs",
        "toolsets",
        "tools",
        "exclude_tools",
        "read_only",
        "allowed_hosts",
        "developer_token",
        "database_url",
        "replica_url",
        "watch",
    }
)


def _name(loc: tuple[int | str, ...]) -> str:
    first = str(loc[0]) if loc else ""
    for name, field in Settings.model_fields.items():  # Box's variables arrive under their own names
        alias = field.validation_alias
        if isinstance(alias, AliasChoices) and first in alias.choices:
            first = name
    return ".".join([first, *(str(p) for p in loc[1:])])


def _source(name: str) -> str:
    if name not in Settings.model_fields:
        return f"--{name.replace('_', '-')}"
    var = env_var(name)
    return f"--{name.replace('_', '-')} or {var}" if name in _FLAGS else var
