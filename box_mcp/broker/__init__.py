"""The token broker: holds Box credentials, keeps tokens alive, narrows them per call; agents never see one.

Public interface (the gate calls it): `Broker`, `IdentitySpec`. Modules: tokens (token endpoint),
credentials (developer token, CCG, JWT), session (refresh and rotation), downscope, vault, oauth, cli.

The OAuth session is written here rather than on authlib's client: Box rotates refresh tokens and each
one works once, so the new pair must be committed to the vault before the access token is used, under
a lock shared by every process on the vault (session.UserGrantSession). authlib's `update_token` hook
runs after the fact and knows nothing of the other processes. PKCE is two stdlib lines (oauth.py), JWT
assertions are joserfc (credentials.py).
"""

from box_mcp.broker.broker import Broker, IdentitySpec

__all__ = ["Broker", "IdentitySpec"]
