"""The exception tree of box-mcp. Every error a person or a model may read derives from BoxMCPError.

    BoxMCPError                      message is safe to show to an agent: no secret, no traceback
    ├── ConfigError                  bad settings, flags or files at start-up
    ├── ToolInputError               arguments a tool rejects before anything reaches Box
    ├── BoxError                     talking to Box went wrong
    │   ├── BoxAPIError              Box answered with an error body (status, code, request id, fix)
    │   └── BoxTransportError        no usable answer: connection, timeout, deadline exhausted
    ├── PolicyError                  a policy file cannot be loaded
    ├── LocateError                  the policy could not learn where an item sits, its name or a login
    │   └── AncestryError            Box's answer did not say where the item sits
    ├── Denied                       the policy refused a call (carries the decision)
    ├── BrokerError                  no Box token can be had
    │   └── NeedsSignIn              a stored grant is dead; a person must sign in again
    └── AuditError                   the audit log cannot record (calls stop rather than go unrecorded)

Areas add subclasses in their own modules; this file holds the roots that cross areas.
"""

from __future__ import annotations


class BoxMCPError(Exception):
    """Base class. `str(err)` must be fit to show an agent: what went wrong and what to do."""


class ConfigError(BoxMCPError):
    pass


class ToolInputError(BoxMCPError):
    pass


class BoxError(BoxMCPError):
    pass


class BoxTransportError(BoxError):
    pass


class PolicyError(BoxMCPError):
    pass


class LocateError(BoxMCPError):
    """A lookup the policy needs failed. When Box answered with an error, its status, code and request id
    ride along for the audit record; `missing` says Box found no such item for that identity (404)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id

    @property
    def missing(self) -> bool:
        return self.status == 404


class AncestryError(LocateError):
    pass


class Denied(BoxMCPError):
    pass


class BrokerError(BoxMCPError):
    pass


class NeedsSignIn(BrokerError):
    """A stored Box sign-in is missing or stopped working: a person must sign in again. `person_id` is
    the Box user id of a person signed in through box-mcp's OAuth (remote sign-in), whom the server can
    send a "connect your Box account" link; None for a grant stored by `box-mcp auth login`."""

    def __init__(self, message: str = "", *, person_id: str | None = None) -> None:
        super().__init__(message)
        self.person_id = person_id


def raised_again(exc: BrokerError) -> BrokerError:
    """A fresh copy of a kept broker error (same type, message and person), to raise for another call."""
    if isinstance(exc, NeedsSignIn):
        return type(exc)(str(exc), person_id=exc.person_id)
    return type(exc)(str(exc))


class AuditError(BoxMCPError):
    pass
