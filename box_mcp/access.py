"""What one tool call touches: the vocabulary shared by the tool catalog, the policy engine and the audit log.

A tool's resource extractor turns validated arguments into `ResourceUse`s (which Box items the call reads
or writes, and in what role) and `CallFacts` (the argument values a policy may constrain). The policy
engine decides on exactly these; the audit log records them. Nothing here talks to Box.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Access(StrEnum):
    """How much a call needs of an item. Ordered: read < write < admin."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def covers(self, other: Access) -> bool:
        """True when holding `self` is enough for a use that needs `other`."""
        return self.rank >= other.rank


_RANK = {Access.READ: 0, Access.WRITE: 1, Access.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A Box item by type and id. `type` is Box's own word: file, folder, web_link, collaboration, ..."""

    type: str
    id: str

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


@dataclass(frozen=True, slots=True)
class ResourceUse:
    """One item a call touches, what it needs of it, and in which role.

    role is one of: "item" (the thing read or changed), "parent" (where something is created or
    uploaded), "source" and "destination" (copy and move), "scope" (search or list roots).
    subtree: the call acts on everything below this folder too (copy, delete, move, share a folder), so
    a forbid on anything inside it bears on the call.
    """

    item: ItemRef
    access: Access
    role: str = "item"
    subtree: bool = False


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Argument values a policy can constrain. None means the call does not set that value."""

    name: str | None = None  # the item name being created, uploaded or renamed to
    extension: str | None = None  # lower-case, without the dot
    size_bytes: int | None = None  # bytes to upload
    shared_link_access: str | None = None  # open | company | collaborators
    collaboration_role: str | None = None  # editor, viewer, co-owner, ...
    invitee_email: str | None = None  # login of a collaborator being invited
    metadata_template: str | None = None  # scope/templateKey, e.g. enterprise_123/contract
