"""The token broker: holds Box credentials, keeps tokens alive, narrows them per call; agents never see one.

Public interface (the gate calls it): `Broker`, `IdentitySpec`. Modules: tokens (token endpoint),
credentials (developer token, CCG, JWT), session (refresh and rotation), downscope, vault, oauth, cli.
"""

from box_mcp.broker.broker import Broker, IdentitySpec

__all__ = ["Broker", "IdentitySpec"]
