"""Locks: a file lock (files toolset) keeps others from changing, and optionally downloading, a file; a
folder lock (folders toolset) freezes a folder against being moved or deleted, by anyone.

A file lock is a write on the file (Box lets editors lock). A folder lock is `admin` access on the folder:
Box lets only its owner or a co-owner create, list or remove one, and it binds everyone else, so a rule
must grant it with `access: admin` (as sharing is). `unlock_folder` takes the folder, not a lock id, so the
policy decides on a folder it can locate; it removes the folder's locks (or the one named).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, Field, field_validator

from box_mcp.access import Access
from box_mcp.box.errors import BoxAPIError
from box_mcp.errors import BoxError, ToolInputError
from box_mcp.tools.models import UserMini
from box_mcp.tools.scopes import box_scopes
from box_mcp.tools.spec import READ_HINTS, BoxId, Hints, ToolContext, ToolInput, ToolOutput, ToolSpec, item

MAX_FOLDER_LOCKS = 100  # locks read per folder (Box allows few; the page is bounded anyway)


# --- file locks ---------------------------------------------------------------------------------


class FileLock(ToolOutput):
    id: str | None = None
    created_by: UserMini | None = None
    created_at: str | None = None
    expires_at: str | None = None
    is_download_prevented: bool | None = None


class FileLockState(ToolOutput):
    file_id: str
    name: str | None = None
    lock: FileLock | None = Field(None, description="Absent when the file is not locked")


class LockFileInput(ToolInput):
    file_id: BoxId
    expires_at: AwareDatetime | None = Field(None, description="When the lock lapses (default: never)")
    is_download_prevented: bool = Field(False, description="Also keep others from downloading it")

    @field_validator("expires_at")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("expires_at must be in the future")
        return value


class FileIdInput(ToolInput):
    file_id: BoxId


def _lock_state(file_id: str, raw: Any) -> FileLockState:
    raw = raw if isinstance(raw, dict) else {}
    lock = raw.get("lock")
    parsed = None
    if isinstance(lock, dict):
        by = lock.get("created_by")
        parsed = FileLock.model_validate(
            {
                **{k: lock.get(k) for k in ("created_at", "is_download_prevented")},
                # Box answers a lock's expiry as expired_at (it is sent as expires_at)
                "expires_at": lock.get("expired_at") or lock.get("expires_at"),
                "id": str(lock["id"]) if lock.get("id") is not None else None,
                "created_by": by if isinstance(by, dict) and by.get("id") else None,
            }
        )
    name = raw.get("name")
    return FileLockState(file_id=file_id, name=name if isinstance(name, str) else None, lock=parsed)


async def lock_file(ctx: ToolContext, args: LockFileInput) -> FileLockState:
    lock: dict[str, Any] = {
        "type": "lock",
        "access": "lock",
        "is_download_prevented": args.is_download_prevented,
    }
    if args.expires_at is not None:
        lock["expires_at"] = args.expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    raw = await ctx.box.put(f"/files/{args.file_id}", json={"lock": lock}, params={"fields": "name,lock"})
    return _lock_state(args.file_id, raw)


async def unlock_file(ctx: ToolContext, args: FileIdInput) -> FileLockState:
    raw = await ctx.box.put(f"/files/{args.file_id}", json={"lock": None}, params={"fields": "name,lock"})
    return _lock_state(args.file_id, raw)


# --- folder locks -------------------------------------------------------------------------------


class FolderLock(ToolOutput):
    id: str
    folder_id: str | None = None
    created_by: str | None = Field(None, description="Box user id of who locked it")
    created_at: str | None = None
    locks_move: bool | None = None
    locks_delete: bool | None = None


class FolderLocks(ToolOutput):
    folder_id: str
    locks: list[FolderLock]


class FolderIdInput(ToolInput):
    folder_id: BoxId


class UnlockFolderInput(ToolInput):
    folder_id: BoxId
    folder_lock_id: BoxId | None = Field(
        None, description="Only this lock (default: every lock on the folder)"
    )


class FolderUnlocked(ToolOutput):
    folder_id: str
    removed: list[str] = Field(description="Ids of the locks removed")


def _folder_lock(raw: Any) -> FolderLock | None:
    if not isinstance(raw, dict) or raw.get("id") is None:
        return None
    folder, by, ops = raw.get("folder"), raw.get("created_by"), raw.get("locked_operations")
    ops = ops if isinstance(ops, dict) else {}
    return FolderLock(
        id=str(raw["id"]),
        folder_id=str(folder["id"]) if isinstance(folder, dict) and folder.get("id") else None,
        created_by=str(by["id"]) if isinstance(by, dict) and by.get("id") else None,
        created_at=raw.get("created_at") if isinstance(raw.get("created_at"), str) else None,
        locks_move=ops.get("move") if isinstance(ops.get("move"), bool) else None,
        locks_delete=ops.get("delete") if isinstance(ops.get("delete"), bool) else None,
    )


async def _locks(ctx: ToolContext, folder_id: str) -> list[FolderLock]:
    raw = await ctx.box.get("/folder_locks", params={"folder_id": folder_id})
    found = [
        lock for lock in (_folder_lock(e) for e in (raw.get("entries") or ())[:MAX_FOLDER_LOCKS]) if lock
    ]
    # Only locks Box says are on this folder: an answer naming another folder is not acted on.
    return [lock for lock in found if lock.folder_id in (None, folder_id)]


async def list_folder_locks(ctx: ToolContext, args: FolderIdInput) -> FolderLocks:
    return FolderLocks(folder_id=args.folder_id, locks=await _locks(ctx, args.folder_id))


async def lock_folder(ctx: ToolContext, args: FolderIdInput) -> FolderLock:
    body = {
        "folder": {"type": "folder", "id": args.folder_id},
        "locked_operations": {"move": True, "delete": True},
    }
    lock = _folder_lock(await ctx.box.post("/folder_locks", json=body))
    if lock is None:
        raise BoxError(f"Box's answer to locking folder {args.folder_id} holds no lock")
    return lock


async def unlock_folder(ctx: ToolContext, args: UnlockFolderInput) -> FolderUnlocked:
    ids = [lock.id for lock in await _locks(ctx, args.folder_id)]
    if args.folder_lock_id is not None:
        if args.folder_lock_id not in ids:
            raise ToolInputError(
                f"folder {args.folder_id} has no lock {args.folder_lock_id}; list_folder_locks shows them"
            )
        ids = [args.folder_lock_id]
    for lock_id in ids:
        try:
            await ctx.box.delete(f"/folder_locks/{lock_id}")
        except BoxAPIError as exc:
            if exc.status != 404:  # a lock just listed and now gone was removed (by a resent request too)
                raise
    return FolderUnlocked(folder_id=args.folder_id, removed=ids)


# --- the specs ----------------------------------------------------------------------------------

SPECS = (
    ToolSpec(
        name="lock_file",
        title="Lock a file",
        description=(
            "Lock a file so others cannot change, move or delete it (and, with is_download_prevented, not "
            "download it) until you unlock it or expires_at passes. Returns the lock."
        ),
        toolset="locks",
        access=Access.WRITE,
        box_scopes=box_scopes("lock_file"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=LockFileInput,
        output_model=FileLockState,
        handler=lock_file,
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
        keeps_items_in_place=True,
    ),
    ToolSpec(
        name="unlock_file",
        title="Unlock a file",
        description="Remove a file's lock (yours, or any lock on a file you own).",
        toolset="locks",
        access=Access.WRITE,
        box_scopes=box_scopes("unlock_file"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=FileIdInput,
        output_model=FileLockState,
        handler=unlock_file,
        resources=lambda a: (item("file", a.file_id, Access.WRITE),),
        keeps_items_in_place=True,
    ),
    ToolSpec(
        name="list_folder_locks",
        title="List a folder's locks",
        description="The locks that keep a folder from being moved or deleted (Box: owner or co-owner only).",
        toolset="locks",
        access=Access.READ,
        box_scopes=box_scopes("list_folder_locks"),
        hints=READ_HINTS,
        input_model=FolderIdInput,
        output_model=FolderLocks,
        handler=list_folder_locks,
        resources=lambda a: (item("folder", a.folder_id, Access.READ),),
    ),
    ToolSpec(
        name="lock_folder",
        title="Lock a folder",
        description=(
            "Freeze a folder so nobody can move or delete it (its contents stay editable) until the lock is "
            "removed with unlock_folder. Box lets only the folder's owner or a co-owner do this."
        ),
        toolset="locks",
        access=Access.ADMIN,
        box_scopes=box_scopes("lock_folder"),
        hints=Hints(read_only=False, destructive=False, idempotent=False),  # each call adds a lock
        input_model=FolderIdInput,
        output_model=FolderLock,
        handler=lock_folder,
        resources=lambda a: (item("folder", a.folder_id, Access.ADMIN),),
        keeps_items_in_place=True,
    ),
    ToolSpec(
        name="unlock_folder",
        title="Unlock a folder",
        description=(
            "Remove a folder's locks (or only folder_lock_id) so it can be moved and deleted again. Box lets "
            "only the folder's owner or a co-owner do this."
        ),
        toolset="locks",
        access=Access.ADMIN,
        box_scopes=box_scopes("unlock_folder"),
        hints=Hints(read_only=False, destructive=False, idempotent=True),
        input_model=UnlockFolderInput,
        output_model=FolderUnlocked,
        handler=unlock_folder,
        resources=lambda a: (item("folder", a.folder_id, Access.ADMIN),),
        keeps_items_in_place=True,
    ),
)
