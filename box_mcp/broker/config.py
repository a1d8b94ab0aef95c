"""Broker settings: which Box credentials exist, from `config.Settings` (these variables), once at start-up.

BOX_DEVELOPER_TOKEN                      developer token (60 minutes, no refresh)
BOX_JWT_CONFIG_FILE                      Box's JSON app config (JWT); service account by default
BOX_CLIENT_ID, BOX_CLIENT_SECRET,        Client Credentials Grant for the enterprise's service account
BOX_ENTERPRISE_ID
BOX_SUBJECT_TYPE, BOX_SUBJECT_ID         act as one user instead (box_subject_type=user), CCG or JWT
BOX_OAUTH_CLIENT_ID, BOX_OAUTH_CLIENT_SECRET   the OAuth app for `auth login` and user-grant refresh
                                         (falls back to BOX_CLIENT_ID / BOX_CLIENT_SECRET)
BOX_MCP_VAULT_KEY                        vault key (urlsafe base64, 32 bytes); else DATA_DIR/vault.key
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from box_mcp.broker.credentials import ClientCredentials, Credential, JWTAppConfig, JWTCredential
from box_mcp.errors import ConfigError

if TYPE_CHECKING:
    from box_mcp.config import Settings


@dataclass(frozen=True, slots=True)
class OAuthClient:
    client_id: str
    client_secret: SecretStr = field(repr=False)


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    developer_token: SecretStr | None = field(default=None, repr=False)
    service_account: Credential | None = None
    oauth_client: OAuthClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BrokerSettings:
        """The one place Box's credential variables are checked and combined (the JWT file is read here)."""
        dev = settings.developer_token
        subject_type, subject_id = settings.subject_type, settings.subject_id
        if (subject_type is None) != (subject_id is None):
            raise ConfigError("set both BOX_SUBJECT_TYPE and BOX_SUBJECT_ID, or neither")
        service: Credential | None = None
        jwt_file = settings.jwt_config_file
        client_id = settings.client_id
        client_secret = settings.client_secret.get_secret_value() if settings.client_secret else None
        if jwt_file:
            config = JWTAppConfig.from_file(Path(jwt_file).expanduser())
            enterprise = config.enterprise_id or settings.enterprise_id
            if subject_type is None and not enterprise:
                raise ConfigError(f"{jwt_file} has no enterpriseID: set BOX_SUBJECT_TYPE and BOX_SUBJECT_ID")
            service = JWTCredential(
                config,
                subject_type=subject_type or "enterprise",  # type: ignore[arg-type]
                subject_id=subject_id or enterprise or "",
            )
        elif client_id or client_secret:
            enterprise = settings.enterprise_id
            if not (client_id and client_secret):
                raise ConfigError("the Client Credentials Grant needs BOX_CLIENT_ID and BOX_CLIENT_SECRET")
            if subject_type is None and not enterprise:
                raise ConfigError(
                    "the Client Credentials Grant needs BOX_ENTERPRISE_ID (the service account), "
                    "or BOX_SUBJECT_TYPE=user with BOX_SUBJECT_ID"
                )
            service = ClientCredentials(
                client_id,
                client_secret,
                subject_type=subject_type or "enterprise",  # type: ignore[arg-type]
                subject_id=subject_id or enterprise or "",
            )
        oauth_id = settings.oauth_client_id or client_id
        oauth_secret = settings.oauth_client_secret or (
            settings.client_secret if oauth_id == client_id else None
        )
        oauth = OAuthClient(oauth_id, oauth_secret) if oauth_id and oauth_secret else None
        return cls(developer_token=dev, service_account=service, oauth_client=oauth)
