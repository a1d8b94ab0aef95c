"""Trim what results say about folders above a confined agent's grant roots (paths, parent, ancestor ids).

An agent confined to Contracts/Inbox sees "…/Inbox/deal.pdf", not "/Contracts/Inbox/deal.pdf", and never the
id of Contracts: the folders above its grant are outside it too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from box_mcp.access import ItemRef, trashed_ref

HIDDEN = "…"

Locate = Callable[[ItemRef], Awaitable[tuple[str, ...] | None]]


def root_index(chain: tuple[str, ...], roots: frozenset[str]) -> int | None:
    """Position of the highest grant root on `chain` (folder ids from "0" down), or None."""
    for i, folder in enumerate(chain):
        if folder in roots:
            return i
    return None


def trim_path(path: str | None, chain: tuple[str, ...], is_folder: bool, roots: frozenset[str]) -> str | None:
    """`chain` ends with the item's own id for a folder, with its parent's for anything else."""
    if path is None or path == "/":
        return path
    parts = path.strip("/").split("/")
    j = root_index(chain, roots)
    if j == 0:
        return path  # the whole account is granted
    aligned = len(parts) == (len(chain) - 1 if is_folder else len(chain))
    if j is None or not aligned:
        return f"{HIDDEN}/{parts[-1]}"
    return "/".join([HIDDEN, *parts[j - 1 :]]) if j > 1 else path


def keep_id(folder_id: str | None, chain: tuple[str, ...], roots: frozenset[str]) -> bool:
    """Whether a folder id on the item's chain lies at or below a grant root."""
    j = root_index(chain, roots)
    return folder_id is not None and j is not None and folder_id in chain[j:]


async def scrub(output: Any, roots: frozenset[str], locate: Locate, kind: str | None) -> Any:
    """A copy of `output` without anything above `roots`: `kind` is the tool spec's output_kind ("search"
    hits carry ancestor_ids, "item" and "folder" details a path and a parent); other outputs pass."""
    if kind == "search":
        return output.model_copy(update={"entries": [_scrub_hit(e, roots) for e in output.entries]})
    if kind in ("item", "folder"):
        parent = output.parent
        is_folder = getattr(output, "type", None) == "folder"
        chain: tuple[str, ...] = ()
        if parent is not None and getattr(parent, "id", None) is not None:
            located = await locate(ItemRef("folder", str(parent.id)))
            chain = located or ()
        if is_folder and chain:
            chain = (*chain, str(output.id))
        update: dict[str, Any] = {"path": trim_path(output.path, chain, is_folder, roots)}
        if parent is not None and not keep_id(str(parent.id), chain, roots):
            update["parent"] = None
        return output.model_copy(update=update)
    if kind == "trash":
        return output.model_copy(
            update={"entries": [await _scrub_trashed(e, roots, locate) for e in output.entries]}
        )
    if kind == "trashed_item":
        return await _scrub_trashed(output, roots, locate)
    return output


async def _scrub_trashed(entry: Any, roots: frozenset[str], locate: Locate) -> Any:
    """A trashed item's `parent` (the folder it was trashed from) only when it lies inside a grant root."""
    parent = entry.parent
    if parent is None:
        return entry
    chain = await locate(trashed_ref(str(entry.type), str(entry.id))) or ()
    return entry if keep_id(str(parent.id), chain, roots) else entry.model_copy(update={"parent": None})


def _scrub_hit(hit: Any, roots: frozenset[str]) -> Any:
    is_folder = hit.type == "folder"
    ancestors = tuple(str(a) for a in hit.ancestor_ids)
    chain = (*ancestors, str(hit.id)) if is_folder else ancestors
    j = root_index(chain, roots)
    kept = list(ancestors[j:]) if j is not None else []
    parent_id = hit.parent_id if keep_id(hit.parent_id, chain, roots) else None
    return hit.model_copy(
        update={
            "path": trim_path(hit.path, chain, is_folder, roots),
            "ancestor_ids": kept,
            "parent_id": parent_id,
        }
    )
