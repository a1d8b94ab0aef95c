"""The Box API client used by every tool: `BoxClient`, its token sources, and Box's typed errors."""

from .client import BoxClient, StaticToken, TokenSource, Verified
from .download import Download
from .errors import BoxAPIError, BoxTransportError, NotModified

__all__ = [
    "BoxAPIError",
    "BoxClient",
    "BoxTransportError",
    "Download",
    "NotModified",
    "StaticToken",
    "TokenSource",
    "Verified",
]
