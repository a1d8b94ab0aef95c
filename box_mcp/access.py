"""What one tool call touches: the vocabulary shared by the tool catalog, the policy engine and the audit log.

A tool's resource extractor turns validated arguments into `ResourceUse`s (which Box items the call reads
or writes, and in what role) and `CallFacts` (the argument values a policy may constrain). The policy
engine decides on exactly these; the audit log records them. Nothing here talks to Box.
"""

from __future__ import annotations

import posixpath
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


_RANK = {Access.READ: 0, Access.WRITE: 1, Access.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class ItemRef:
    """A Box item by type and id. `type` is Box's own word: file, folder, web_link, collaboration, ..."""

    type: str
    id: str

    def __str__(self) -> str:
        if self.type in TRASHED:  # "trashed file 123" in sentences to agents and people
            return f"trashed {TRASHED[self.type]} {self.id}"
        return f"{self.type} {self.id}"


# A trashed file or folder, as trash tools name it: `trashed_file` / `trashed_folder` with the item's id. The
# policy locates it where it was trashed from, and its rules match it as the file or folder it is.
TRASHED = {"trashed_file": "file", "trashed_folder": "folder"}


def trashed_ref(kind: str, item_id: str) -> ItemRef:
    """How trash tools name a trashed file or folder (`kind` is file or folder)."""
    return ItemRef(f"trashed_{kind}", item_id)


def live_ref(item: ItemRef) -> ItemRef | None:
    """The file or folder a trashed item reference stands for (None for any other reference)."""
    base = TRASHED.get(item.type)
    return ItemRef(base, item.id) if base is not None else None


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
class Exposure:
    """Whether the item a call touches is externally shared, as the policy found it in Box (never from
    the call's arguments): `shared` is None when the facts could not be read (a rule then fails closed).

    `why` is a phrase for sentences: what makes it shared ("open shared link on folder 123
    'Contracts'"), or why the facts were unavailable. It names only what the agent may see."""

    item: ItemRef | None
    shared: bool | None
    why: str = ""

    @property
    def known(self) -> bool:
        return self.shared is not None


@dataclass(frozen=True, slots=True)
class CallFacts:
    """Argument values a policy can constrain. None means the call does not set that value.

    The last two are facts the policy looks up itself, only when a rule for the call tests them:
    `externally_shared` (policy/exposure.py) and `first_destructive_in_session` (policy/firsts.py)."""

    name: str | None = None  # the item name being created, uploaded or renamed to
    extension: str | None = None  # lower-case, without the dot
    size_bytes: int | None = None  # bytes to upload
    shared_link_access: str | None = None  # open | company | collaborators
    collaboration_role: str | None = None  # editor, viewer, co-owner, ...
    invitee_email: str | None = None  # login of a collaborator being invited
    metadata_template: str | None = None  # scope/templateKey, e.g. enterprise_123/contract
    url_domain: str | None = None  # a web link's URL host, lower-case punycode (create/update_web_link)
    externally_shared: Exposure | None = None  # the touched item or a parent folder is shared outside
    first_destructive_in_session: bool | None = None  # a destructive tool, none succeeded yet this session


def extension_of(name: str | None) -> str | None:
    """A file name's extension as policies compare it: lower-case, without the dot; None only when no name
    is given. It is what follows the last dot, read the way `os.path.splitext` reads it:

    - "report.PDF" -> "pdf", "a.tar.gz" -> "gz", "x.p-df" -> "p-df" (any characters count);
    - "run", "run.exe." -> "" (no extension, so "only pdf" refuses them);
    - ".pdf", "..pdf" -> "": a dotfile's leading dots belong to its name, so ".pdf" has no extension (a
      policy that must catch dotfiles names them with name_patterns, e.g. ".*").

    Uploads, new versions, copies and moves all go through this one function."""
    if not name:
        return None
    return posixpath.splitext(name)[1][1:].lower()
