"""What a tool is: `ToolSpec` (declaration + handler), `ToolContext` (what a handler may use), arg types.

A spec is data the gate, the policy, the broker and the audit log all read; the handler only turns
validated arguments into Box requests and Box answers into a compact output model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import pydantic_core
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.access import extension_of as extension_of  # the one rule, re-exported for the tool modules
from box_mcp.tools import schemas

if TYPE_CHECKING:
    from box_mcp.box.client import BoxClient

TransportKind = Literal["stdio", "http", "memory"]

# --- argument types shared by every tool -------------------------------------------------------------


def check_box_id(value: str) -> str:
    """One spelling per id: the policy compares ids as text, so "0123" must not stand in for "123"."""
    if len(value) > 1 and value.startswith("0"):
        raise ValueError("a Box id has no leading zeros (only the root folder is '0')")
    return value


# No description in the schema: every id field is named *_id, the pattern says "digits", and the server
# instructions say once what an id is and that folder '0' is All Files (on ~45 fields it cost 3.5 KB).
BoxId = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,20}$"), AfterValidator(check_box_id)]


def check_item_name(value: str) -> str:
    """Reject names the way Box does (400 item_name_invalid / item_name_too_long), before Box sees them."""
    if value in (".", ".."):
        raise ValueError("'.' and '..' are not valid Box item names")
    if "/" in value or "\\" in value:
        raise ValueError("Box item names cannot contain '/' or '\\'")
    if value != value.strip(" "):
        raise ValueError("Box item names cannot start or end with a space")
    if any(not ch.isprintable() for ch in value):
        raise ValueError("Box item names cannot contain non-printable characters")
    return value


ItemName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255),
    AfterValidator(check_item_name),
    Field(description="No '/' or '\\' or edge spaces"),
]

# No description: every tool taking an etag says in its own description what passing one does.
Etag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_-]+$")]

ItemType = Literal["file", "folder"]


class ToolInput(BaseModel):
    """Base of every input model: unknown arguments are an error, not silently dropped."""

    # allow_inf_nan=False: JSON has no NaN or Infinity (1e400 parses to inf); such a number is refused here.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False, allow_inf_nan=False)


class ToolOutput(BaseModel):
    """Base of every output model: built from untrusted Box JSON, so unknown fields are dropped."""

    model_config = ConfigDict(extra="ignore")

    def text(self) -> str:
        """The compact text form sent next to the structured content."""
        return self.model_dump_json(exclude_none=True)

    def text_and_structured(self) -> tuple[str, dict[str, Any]]:
        """`(self.text(), the structured content)`, dumping the model once when text() is the default:
        the JSON encoding of the structured dict is then the same bytes (non-finite floats as null,
        as model_dump_json writes them)."""
        structured = self.model_dump(mode="json", exclude_none=True)
        if type(self).text is ToolOutput.text:
            return pydantic_core.to_json(structured, inf_nan_mode="null").decode(), structured
        return self.text(), structured

    def extra_content(self) -> list[Any]:
        """MCP content blocks beyond the text form (e.g. an embedded binary resource)."""
        return []

    def audit_detail(self) -> dict[str, Any] | None:
        """What the audit records about this result, beside the call's arguments and items: facts only,
        never a secret the result carries (a URL that is its own bearer credential). None: nothing."""
        return None


# --- what a handler gets -----------------------------------------------------------------------------


class ProgressReporter(Protocol):
    async def __call__(
        self, progress: float, total: float | None = None, message: str | None = None
    ) -> None: ...


async def no_progress(progress: float, total: float | None = None, message: str | None = None) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Everything a handler may use: the per-call Box client and the call's settings. Nothing else."""

    box: BoxClient
    transport: TransportKind = "memory"
    allowed_dirs: tuple[Path, ...] = ()
    progress: ProgressReporter = no_progress
    max_read_bytes: int = 1_048_576  # get_file_content's read cap (the upload cap: content.MAX_INLINE_BYTES)
    # box-mcp's own state (data dir: vault, audit; the policy): never a local path, even inside allowed_dirs
    protected_paths: tuple[Path, ...] = ()


Handler = Callable[[ToolContext, Any], Awaitable[ToolOutput]]


@dataclass(frozen=True, slots=True)
class Hints:
    """MCP tool annotations, explicit on every tool (no defaults: each tool states all four)."""

    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool = True  # every tool talks to Box, an external system


def _no_resources(args: Any) -> tuple[ResourceUse, ...]:
    return ()


def _no_facts(args: Any) -> CallFacts:
    return CallFacts()


# What a tool's output shows that a policy hiding items must look at (policy/confine.py):
# item     one file, folder or web link's details (path, parent): paths above a grant are trimmed
# folder   one folder's details: as item, and its item_count and size are recounted
# listing  entries of the one folder the call names, paged by cursor (refilled past hidden entries)
# search   search hits, each with its own ancestor_ids, paged by offset
# account  the account's profile: its totals add up hidden items too
# hubs     Box Hubs (`hub:<id>` to the policy), paged by cursor: hubs the grant does not name are taken out
# items    files, folders and web links from anywhere (a hub's items, Doc Gen templates), paged by cursor:
#          each is located and taken out unless the agent could read it itself
# webhooks webhooks, paged by cursor: each is taken out unless the agent could read the item it watches
# trash    trashed files and folders, paged by cursor: each is located where it was trashed from (its
#          original folder) and taken out unless the agent could read it there; parents above grants trimmed
# trashed_item  one trashed file or folder: its parent (where it was trashed from) trimmed above grants
OutputKind = Literal[
    "item", "folder", "listing", "search", "account", "hubs", "items", "webhooks", "trash", "trashed_item"
]
# What a downscoped token can be bound to: Box's token exchange takes the URL of one file or folder only
# ("Downscope a Token"; the emulator refuses a web link's URL as Box does), so a call on a web link is not.
_ONE_ITEM_TYPES = ("file", "folder")


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: declaration, extractors and handler. The catalog is a tuple of these."""

    name: str
    title: str
    description: str
    toolset: str
    access: Access
    box_scopes: frozenset[str]
    hints: Hints
    input_model: type[ToolInput]
    output_model: type[ToolOutput]
    handler: Handler = field(repr=False)
    resources: Callable[[Any], tuple[ResourceUse, ...]] = field(default=_no_resources, repr=False)
    facts: Callable[[Any], CallFacts] = field(default=_no_facts, repr=False)
    stdio_only_fields: frozenset[str] = frozenset()  # arguments that name local paths
    # The arguments and outputs a policy reads, declared here so it never guesses from attribute names:
    search_roots_field: str | None = None  # the folder-id list a confined agent's search is scoped to
    invitee_user_field: str | None = None  # a Box user id invited (its login meets invitee_domains)
    # For a tool naming a `shared_link` resource: (the argument holding the link's password, sent to Box
    # when the policy resolves the link to decide on its item and masked in the audit; the argument the
    # policy pins the item it decided on to, "type:id", which the handler checks Box's answer against)
    shared_link_fields: tuple[str, str] | None = None
    output_kind: OutputKind | None = None
    # True when the call's writes change neither where items sit, nor their names, nor which folders an
    # identity sees above them (shared links, metadata, comments): the policy's cached lookups stay true.
    keeps_items_in_place: bool = False
    # It changes the enterprise itself (its metadata templates, its users), not an item: a policy grants
    # it only by name or with `access: admin`, never by a `toolsets:` grant alone (policy/engine.py).
    enterprise_wide: bool = False

    @property
    def read_only(self) -> bool:
        return self.hints.read_only

    def single_item_resource(self, args: Any) -> ItemRef | None:
        """The one item a call acts on, when its resources are exactly one use, in role "item" (or "parent":
        a create or upload acts on its parent only), on a file or folder. The broker binds the
        call's token to it where the downscope table's row says so. None for calls on two items, on a
        collaboration, or spanning folders (a search's "scope")."""
        uses = self.resources(args)
        if len(uses) != 1 or uses[0].role not in ("item", "parent"):
            return None
        if uses[0].item.type not in _ONE_ITEM_TYPES:
            return None
        return uses[0].item

    def input_schema(self) -> dict[str, Any]:
        """The lean inputSchema, computed once per model (shared: never mutate it)."""
        return schemas.input_schema(self.input_model)

    def output_schema(self) -> dict[str, Any]:
        """The lean outputSchema, computed once per model (shared: never mutate it)."""
        return schemas.output_schema(self.output_model)


# --- small helpers the area modules share ----------------------------------------------------------------


def item(
    kind: str, item_id: str, access: Access, role: str = "item", *, subtree: bool = False
) -> ResourceUse:
    """One use; `subtree` marks a call that acts on everything below a folder (see ResourceUse)."""
    return ResourceUse(ItemRef(kind, item_id), access, role, subtree and kind == "folder")


READ_HINTS = Hints(read_only=True, destructive=False, idempotent=True)
