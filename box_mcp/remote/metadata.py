"""RFC 8414 authorization server metadata for box-mcp: the SDK's `build_metadata`, plus what it does
not say: Client ID Metadata Documents (with `none` among the token endpoint auth methods), `iss` on
authorization responses (RFC 9207), and public-client revocation."""

from __future__ import annotations

from mcp.server.auth.routes import build_metadata
from mcp.server.auth.settings import ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthMetadata
from pydantic import AnyHttpUrl

AUTH_METHODS = ["none", "client_secret_post", "client_secret_basic"]


def authorization_server_metadata(issuer: str, *, registration: bool, scopes: list[str]) -> OAuthMetadata:
    metadata = build_metadata(
        AnyHttpUrl(issuer),
        None,
        ClientRegistrationOptions(enabled=registration, valid_scopes=scopes, default_scopes=scopes),
        RevocationOptions(enabled=True),
    )
    # Validated anew from JSON: the SDK's models keep a path-less URL path-less (no "/" added), so the
    # issuer serializes exactly as clients compare it (RFC 8414 §3.3).
    return OAuthMetadata.model_validate(
        metadata.model_dump(mode="json")
        | {
            "issuer": issuer,
            "client_id_metadata_document_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "token_endpoint_auth_methods_supported": AUTH_METHODS,
            "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
            "code_challenge_methods_supported": ["S256"],
        }
    )
