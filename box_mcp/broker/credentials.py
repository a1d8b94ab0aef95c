"""The Box credential modes that mint tokens on their own: developer token, Client Credentials Grant, JWT.

Each `Credential` answers `mint(endpoint) -> Token`. None of them gets a refresh token from Box (CCG and
JWT simply mint again), so none of them needs the vault's rotation logic; user grants do (`session.py`).
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from box_mcp.broker.tokens import BOX_TOKEN_AUDIENCE, JWT_BEARER_GRANT, Token, TokenEndpoint
from box_mcp.errors import BrokerError, ConfigError

SubjectType = Literal["enterprise", "user"]


class Credential(Protocol):
    @property
    def kind(self) -> str: ...

    def describe(self) -> str:
        """A short human label without secrets, e.g. "CCG enterprise 123"."""
        ...

    async def mint(self, endpoint: TokenEndpoint) -> Token: ...


class DeveloperTokenExpired(BrokerError):
    pass


@dataclass(slots=True)
class DeveloperToken:
    """A developer token from Box's console: lives 60 minutes and cannot be refreshed."""

    token: str = field(repr=False)
    kind: str = "developer_token"
    dead: bool = False

    def describe(self) -> str:
        return "developer token"

    async def mint(self, endpoint: TokenEndpoint) -> Token:
        if self.dead:
            raise DeveloperTokenExpired(
                "Box refused the developer token (they expire 60 minutes after they are made): generate a "
                "new one in the Box developer console and set BOX_DEVELOPER_TOKEN, then restart box-mcp"
            )
        self.dead = True  # a second mint means the first one was refused: there is nothing else to try
        return Token(access_token=self.token, expires_at=math.inf)


def _check_subject(subject_type: str, subject_id: str) -> SubjectType:
    if subject_type not in ("enterprise", "user"):
        raise ConfigError(f"BOX_SUBJECT_TYPE must be enterprise or user, not {subject_type!r}")
    if not subject_id.isdigit():
        raise ConfigError(f"the Box subject id must be digits (an enterprise or user id), not {subject_id!r}")
    return subject_type  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """Client Credentials Grant: the enterprise's service account, or one user (box_subject_type=user)."""

    client_id: str
    client_secret: str = field(repr=False)
    subject_type: SubjectType = "enterprise"
    subject_id: str = ""
    kind: str = "service_account"

    def __post_init__(self) -> None:
        _check_subject(self.subject_type, self.subject_id)

    def describe(self) -> str:
        return f"client credentials ({self.subject_type} {self.subject_id})"

    async def mint(self, endpoint: TokenEndpoint) -> Token:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "box_subject_type": self.subject_type,
            "box_subject_id": self.subject_id,
        }
        return await endpoint.request(form, what=f"the client credentials grant for {self.describe()}")


@dataclass(frozen=True, slots=True)
class JWTAppConfig:
    """Box's JSON app config for server authentication with JWT."""

    client_id: str
    client_secret: str = field(repr=False)
    key_id: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    enterprise_id: str | None = None

    @classmethod
    def from_file(cls, path: Path) -> JWTAppConfig:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the Box JWT config {path}: {exc.strerror}") from None
        except ValueError:
            raise ConfigError(f"{path} is not JSON: download the app's config again from Box") from None
        return cls.from_dict(data, where=str(path))

    @classmethod
    def from_dict(cls, data: Any, *, where: str = "the JWT config") -> JWTAppConfig:
        try:
            settings = data["boxAppSettings"]
            auth = settings["appAuth"]
            client_id, client_secret = str(settings["clientID"]), str(settings["clientSecret"])
            key_id, pem = str(auth["publicKeyID"]), str(auth["privateKey"])
        except (KeyError, TypeError):
            raise ConfigError(
                f"{where} lacks boxAppSettings.clientID/clientSecret/appAuth.publicKeyID/privateKey: "
                "use the JSON file Box generates for a JWT app (Configuration > Add and Manage Public Keys)"
            ) from None
        passphrase = auth.get("passphrase") or None
        try:
            key = serialization.load_pem_private_key(
                pem.encode("utf-8"), password=passphrase.encode("utf-8") if passphrase else None
            )
        except (ValueError, TypeError):
            raise ConfigError(
                f"the private key in {where} cannot be loaded: wrong passphrase, or not a PEM RSA key"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(f"the private key in {where} is not an RSA key; Box JWT apps use RSA")
        enterprise = data.get("enterpriseID")
        return cls(client_id, client_secret, key_id, key, str(enterprise) if enterprise else None)


@dataclass(frozen=True, slots=True)
class JWTCredential:
    """JWT bearer grant: an RS256 assertion signed with the app's key, fresh jti, exp <= 60 s ahead."""

    config: JWTAppConfig
    subject_type: SubjectType = "enterprise"
    subject_id: str = ""
    audience: str = BOX_TOKEN_AUDIENCE  # Box checks this literal even when the token URL differs
    lifetime: int = 45  # seconds; Box refuses an exp more than 60 s ahead, and clocks drift
    kind: str = "service_account"

    def __post_init__(self) -> None:
        _check_subject(self.subject_type, self.subject_id)

    def describe(self) -> str:
        return f"JWT app {self.config.client_id} ({self.subject_type} {self.subject_id})"

    def assertion(self, now: float) -> str:
        claims = {
            "iss": self.config.client_id,
            "sub": self.subject_id,
            "box_sub_type": self.subject_type,
            "aud": self.audience,
            "jti": secrets.token_urlsafe(48),  # 64 chars: inside Box's 16-128
            "exp": int(now) + self.lifetime,
            "iat": int(now),
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": self.config.key_id}
        return jwt.encode(header, claims, RSAKey.import_key(self.config.private_key))

    async def mint(self, endpoint: TokenEndpoint) -> Token:
        form = {
            "grant_type": JWT_BEARER_GRANT,
            "assertion": self.assertion(endpoint.clock()),
            "client_id": self.config.client_id,
            "client_secret": self.config.client_secret,
        }
        return await endpoint.request(form, what=f"the JWT grant for {self.describe()}")
