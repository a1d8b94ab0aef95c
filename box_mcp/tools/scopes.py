"""The one downscope table: for each tool, the Box scopes its per-call token carries, whether that token can
be bound to the call's one item, and why. Tool specs (`box_scopes`), the broker and the README read it.

Sources (checked 2026-12; Box publishes no per-endpoint scope list, so each row cites the scope's text):
- Box, "Scopes" guide, section "Scopes for downscoping" (developer.box.com/guides/api-calls/
  permissions-and-errors/scopes/#scopes-for-downscoping): the downscope scopes below, and "the standard
  OAuth scopes are also supported when downscoping" (root_readonly, root_readwrite, manage_*).
- Box, "Downscope a Token" (developer.box.com/guides/authentication/tokens/downscope/) and the OpenAPI spec
  (../shared/box-api/openapi.json, POST /oauth2/token: `scope`, `resource` = the full URL of ONE file or
  folder; `ResourceScope` enum): a token is bound to at most one item, and a folder binding reaches what
  lies below it.
- Box UI Elements "Scopes" sections (developer.box.com/guides/embed/ui-elements/explorer/, /sidebar/,
  /uploader/, /picker/): base_explorer browses the folder tree and item_* add rename, delete, share,
  download, upload; the Content Sidebar's base_sidebar shows a file's activity (comments, tasks), its
  item_upload "allows editing of file metadata" and item_rename "editing of file description".
- Box, "Dedicated Scopes" (developer.box.com/guides/embed/ui-elements/scopes/): feature scopes are
  additive and work paired with a base scope, which "must always be present in the token exchange
  request"; so every row carries one (base_explorer, base_upload or base_sidebar).
- Box's SDK integration test (box/box-python-sdk-gen test/auth.py): item_rename + item_preview bound to a
  file lets PUT /files/{id} rename it and refuses DELETE.

Binding: "item" = one token bound to the call's item (`resource`); "scopes" = the scopes only, not bound,
because the call touches two items (source and destination), a collaboration (not a file or folder), or no
item at all. Box's downscoping list has no scope for creating comments (the Sidebar page names
item_comment, which its token-exchange list and the OpenAPI enum do not): that row uses the app scope bound
to the one file. This module imports nothing from box_mcp, so the broker may read it too.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Binding = Literal["item", "scopes"]
AppScope = Literal["root_readonly", "root_readwrite"]

# Box's downscope scopes (the "Scopes for downscoping" table, plus item_read from the OpenAPI enum) ...
NARROW_SCOPES = frozenset(
    {
        "annotation_edit",
        "annotation_view_all",
        "annotation_view_self",
        "base_explorer",
        "base_picker",
        "base_preview",
        "base_sidebar",
        "base_upload",
        "item_delete",
        "item_download",
        "item_preview",
        "item_read",
        "item_rename",
        "item_share",
        "item_upload",
    }
)
# ... and the standard OAuth (app) scopes, which Box also accepts in a token exchange.
APP_SCOPES = frozenset(
    {
        "root_readonly",
        "root_readwrite",
        "manage_managed_users",
        "manage_app_users",
        "manage_groups",
        "manage_webhook",
        "manage_enterprise_properties",
        "manage_data_retention",
        "ai.readwrite",
    }
)
DOWNSCOPE_SCOPES = NARROW_SCOPES | APP_SCOPES


@dataclass(frozen=True, slots=True)
class Need:
    """What one tool's call needs from Box: the scopes its token is exchanged for, and why."""

    scopes: frozenset[str]  # what the per-call token carries
    app: AppScope  # what the Box app itself must have been granted
    binding: Binding
    why: str

    @property
    def box_scopes(self) -> frozenset[str]:
        """Everything the tool needs from Box: the token's scopes and the app scope behind them."""
        return self.scopes | {self.app}


R: AppScope = "root_readonly"
W: AppScope = "root_readwrite"
_TWO = "two items, and a token binds to at most one"
_METADATA = "the Content Sidebar's item_upload edits metadata"
# Box AI: ai.readwrite is Box's "Manage AI" app scope, which a token exchange also accepts (standard OAuth
# scopes are); base_preview views a file's content, which is what Box AI reads.
_AI = "ai.readwrite base_preview"
_AI_FILES = "Box AI reads up to 25 files, and a token binds to at most one"
# Box's "Box Hubs" guide (developer.box.com/guides/hubs-api/): hub endpoints need an access token "with the
# appropriate scopes for the operations" and name no hub scope (content scopes; listing enterprise hubs needs
# Global Content Manager for admins or Hub Co-admins); they answer only with box-version: 2025.0.
_HUBS = "2025.0 hub endpoint, no hub downscope scope"
# Box's "Box Doc Gen" guides (developer.box.com/guides/docgen/, docgen-getting-started): Doc Gen must be
# enabled by an admin (Enterprise Advanced); the Doc Gen endpoints are 2025.0 and work on the template file
# and the destination folder with the caller's content access; Box's hosted MCP server asks for
# docgen.readwrite besides root_readwrite (notes/box-and-gateways-2026-12.md section 1.3).
_DOCGEN = "2025.0 Doc Gen endpoint, not the file's own URL"
# Box's "Metadata templates" guides (developer.box.com/guides/metadata/templates/create/, .../update/):
# creating or changing a template needs the app's "Manage enterprise properties" scope
# (manage_enterprise_properties, an app scope a token exchange accepts) and an admin or co-admin identity.
_TEMPLATE_ADMIN = "enterprise-wide template change: Manage enterprise properties; templates are no item"


_TASK = "the app scope, bound to the one file"
_TASK_ID = "names a task; the app scope (no task downscope scope), and tokens bind to files and folders only"
_LINK_ID = "names a web link; Box binds tokens to files and folders only"
# Box's "Scopes" guide: "Manage users" (manage_managed_users) lets an admin's app list and create the
# enterprise's users, "Manage webhooks" (manage_webhook) create, list and delete webhooks; both are standard
# OAuth scopes, which a token exchange accepts.
_USERS = "the enterprise's users, not an item: Box's Manage users scope (admins, co-admins)"
_WEBHOOKS = "Box's Manage webhooks scope"
# Box's Preview UI Element scopes (developer.box.com/guides/embed/ui-elements/preview/): base_preview
# "allows the user to preview the file" - its details with representations, and the representation pages.
_PREVIEW = "base_preview: the one file's representations and their pages"
# Trash: a trashed item is reached at .../trash, not the URL a token binds to, and a restore may land in
# another folder; Box's trash guides name no narrower scope than "Read and write all files and folders"
# (notes/box-and-gateways-2026-12.md, Trash), so changes carry root_readwrite, reads base_explorer, and no
# token is bound to one item. Folder locks name no scope either: root_readwrite bound to the one folder.
_TRASH = "a trashed item is reached at its /trash URL, not the one a token binds to"
_FOLDER_LOCKS = "(owner or co-owner; no narrower scope names folder locks)"


def _need(scopes: str, app: AppScope, binding: Binding, why: str) -> Need:
    wanted = frozenset(scopes.split())
    unknown = wanted - DOWNSCOPE_SCOPES
    if unknown:  # a typo here would only show at Box, as invalid_scope on every call of the tool
        raise ValueError(f"not a Box downscope scope: {', '.join(sorted(unknown))}")
    return Need(wanted, app, binding, why)


TABLE: dict[str, Need] = {
    "who_am_i": _need("base_explorer", R, "scopes", "reads the identity's own profile; no item to bind to"),
    "list_users": _need("base_explorer manage_managed_users", W, "scopes", _USERS),
    "create_user": _need("base_explorer manage_managed_users", W, "scopes", _USERS),
    "get_file_details": _need("base_explorer", R, "item", "item details: base_explorer browses the tree"),
    "get_file_content": _need("base_explorer item_download", R, "item", "details, then the file's bytes"),
    "download_file": _need("base_explorer item_download", R, "item", "details, then the file's bytes"),
    "get_download_url": _need(
        "base_explorer item_download", R, "item", "details, then the one file's short-lived download link"
    ),
    "get_file_preview": _need("base_preview", R, "item", _PREVIEW),
    "get_preview_page": _need("base_preview", R, "item", _PREVIEW),
    "upload_file": _need("base_upload item_upload", W, "item", "upload into the one parent folder"),
    "upload_file_version": _need("base_explorer item_upload", W, "item", "a new version of the one file"),
    "get_upload_url": _need(
        "base_upload item_upload", W, "item", "the upload preflight on the one folder (new file) or file"
    ),
    "update_file_properties": _need(
        "base_explorer item_rename item_upload",
        W,
        "scopes",
        "renames; with parent_folder_id it also moves: " + _TWO,
    ),
    "copy_file": _need(
        "base_explorer item_download item_upload",
        W,
        "scopes",
        "reads the source, uploads to the destination: " + _TWO,
    ),
    "move_file": _need(
        "base_explorer item_rename item_upload",
        W,
        "scopes",
        "changes the item, uploads to the destination: " + _TWO,
    ),
    "delete_file": _need("base_explorer item_delete", W, "item", "deletes the one file"),
    "list_file_versions": _need("base_explorer", R, "item", "reads the one file's version list"),
    "list_recent_items": _need("base_explorer", R, "scopes", "what the identity touched, across the account"),
    "promote_file_version": _need(
        "base_explorer item_upload", W, "item", "a new current version of the one file"
    ),
    "restore_file_version": _need("base_explorer item_upload", W, "item", "changes the one file's versions"),
    "delete_file_version": _need("base_explorer item_delete", W, "item", "deletes a version of the one file"),
    "lock_file": _need(
        "base_explorer item_rename", W, "item", "a lock is set by PUT on the one file, as a rename"
    ),
    "unlock_file": _need("base_explorer item_rename", W, "item", "a lock is removed by PUT on the one file"),
    "get_folder_details": _need("base_explorer", R, "item", "item details: base_explorer browses the tree"),
    "list_folder_content_by_folder_id": _need("base_explorer", R, "item", "lists the one folder"),
    "create_folder": _need("base_explorer item_upload", W, "item", "a new folder is an upload to the parent"),
    "update_folder_properties": _need("base_explorer item_rename", W, "item", "rename and description"),
    "copy_folder": _need(
        "base_explorer item_download item_upload",
        W,
        "scopes",
        "reads the source, uploads to the destination: " + _TWO,
    ),
    "move_folder": _need(
        "base_explorer item_rename item_upload",
        W,
        "scopes",
        "changes the item, uploads to the destination: " + _TWO,
    ),
    "delete_folder": _need("base_explorer item_delete", W, "item", "deletes the one folder and its contents"),
    "list_folder_locks": _need("base_explorer", R, "item", "reads the one folder's locks " + _FOLDER_LOCKS),
    "lock_folder": _need("root_readwrite", W, "item", "locks the one folder " + _FOLDER_LOCKS),
    "unlock_folder": _need("root_readwrite", W, "item", "unlocks the one folder " + _FOLDER_LOCKS),
    "list_trashed_items": _need("base_explorer", R, "scopes", "the caller's whole trash, not one item"),
    "get_trashed_item": _need("base_explorer", R, "scopes", _TRASH),
    "restore_file_from_trash": _need(
        "root_readwrite", W, "scopes", _TRASH + "; may restore into another folder"
    ),
    "restore_folder_from_trash": _need(
        "root_readwrite", W, "scopes", _TRASH + "; may restore into another folder"
    ),
    "purge_trashed_item": _need("root_readwrite", W, "scopes", _TRASH + "; deletes it for good"),
    "search_files_keyword": _need("base_explorer", R, "scopes", "spans the account or several folders"),
    "search_folders_by_name": _need("base_explorer", R, "scopes", "spans the account or several folders"),
    "search_files_metadata": _need(
        "base_explorer", R, "scopes", "spans the account or several folders, as keyword search does"
    ),
    # Box Hubs and Doc Gen (2025.0 API): Box lists no hub or Doc Gen scope among the downscoping scopes, and
    # their endpoints are not an item's own URL, so a token is not bound to one item: reads carry
    # base_explorer (as who_am_i), changes the app scope root_readwrite (see _HUBS / _DOCGEN above).
    "list_hubs": _need("base_explorer", R, "scopes", _HUBS + "; lists hubs, not items"),
    "get_hub_details": _need("base_explorer", R, "scopes", _HUBS),
    "get_hub_items": _need("base_explorer", R, "scopes", _HUBS),
    "create_hub": _need("root_readwrite", W, "scopes", _HUBS + "; creates an enterprise hub"),
    "update_hub": _need("root_readwrite", W, "scopes", _HUBS),
    "add_items_to_hub": _need("root_readwrite", W, "scopes", _HUBS + "; names the hub and each item"),
    "copy_hub": _need("root_readwrite", W, "scopes", _HUBS + "; creates a new hub"),
    "list_docgen_templates": _need("base_explorer", R, "scopes", _DOCGEN + "; lists templates"),
    "get_docgen_template_by_id": _need(
        "base_explorer", R, "item", "reads the one template file and its tags (bound to that file)"
    ),
    "create_docgen_batch": _need(
        "root_readwrite", W, "scopes", _DOCGEN + "; reads the template, writes into the folder: " + _TWO
    ),
    "add_file_shared_link": _need("base_explorer item_share", W, "item", "shares the one item"),
    "add_folder_shared_link": _need("base_explorer item_share", W, "item", "shares the one item"),
    "get_shared_link": _need("base_explorer", R, "item", "reads the item's shared_link field"),
    "remove_shared_link": _need("base_explorer item_share", W, "item", "changes the one item's sharing"),
    "resolve_shared_link": _need(
        "base_explorer", R, "scopes", "names a shared link: its item is known only once Box resolves it"
    ),
    "create_collaboration": _need("base_explorer item_share", W, "item", "invites to the one item (sharing)"),
    "list_item_collaborations": _need("base_explorer", R, "item", "reads the one item's collaborations"),
    "update_collaboration": _need(
        "base_explorer item_share",
        W,
        "scopes",
        "names a collaboration; Box binds tokens to files and folders only",
    ),
    "delete_collaboration": _need(
        "base_explorer item_share",
        W,
        "scopes",
        "names a collaboration; Box binds tokens to files and folders only",
    ),
    "list_metadata_templates": _need("base_explorer", R, "scopes", "templates belong to the enterprise"),
    "get_metadata_template_schema": _need("base_explorer", R, "scopes", "templates belong to the enterprise"),
    "create_metadata_template": _need(
        "base_explorer manage_enterprise_properties", W, "scopes", _TEMPLATE_ADMIN
    ),
    "update_metadata_template": _need(
        "base_explorer manage_enterprise_properties", W, "scopes", _TEMPLATE_ADMIN
    ),
    "get_file_metadata": _need("base_explorer", R, "item", "reads the one file's metadata"),
    "set_file_metadata": _need("base_sidebar item_upload", W, "item", _METADATA),
    "set_folder_metadata": _need("base_sidebar item_upload", W, "item", _METADATA),
    "create_file_comment": _need(
        "root_readwrite",
        W,
        "item",
        "no comment scope in Box's downscoping list: the app scope, bound to the one file",
    ),
    "list_file_comments": _need("base_sidebar", R, "item", "Sidebar activity feed: comments"),
    "list_tasks": _need("base_sidebar", R, "item", "Sidebar activity feed: tasks"),
    # Tasks: the Sidebar page's item_task ("creating and resolving of tasks") is in neither Box's downscoping
    # list nor the OpenAPI enum, so, as for comments, the app scope; a task (assignment) id is not a file.
    "create_task": _need("root_readwrite", W, "item", "no task scope in Box's downscoping list: " + _TASK),
    "assign_task": _need("root_readwrite", W, "scopes", _TASK_ID),
    "update_task_assignment": _need(
        "root_readwrite", W, "scopes", _TASK_ID.replace("a task", "an assignment")
    ),
    "delete_task": _need("root_readwrite", W, "scopes", _TASK_ID),
    # Web links: Box binds a downscoped token to a file or folder only, so a link's own calls carry scopes;
    # creating one is an upload into the one parent folder (bound to it).
    "create_web_link": _need(
        "base_upload item_upload", W, "item", "a new web link is an upload to the parent"
    ),
    "get_web_link": _need("base_explorer", R, "scopes", _LINK_ID),
    "update_web_link": _need(
        "base_explorer item_rename item_upload", W, "scopes", _LINK_ID + "; a move also uploads to the folder"
    ),
    "delete_web_link": _need("base_explorer item_delete", W, "scopes", _LINK_ID),
    "list_webhooks": _need(
        "base_explorer manage_webhook", R, "scopes", _WEBHOOKS + "; lists webhooks, not items"
    ),
    "create_webhook": _need(
        "base_explorer manage_webhook", W, "item", _WEBHOOKS + "; on the one target item"
    ),
    "delete_webhook": _need(
        "base_explorer manage_webhook", W, "scopes", _WEBHOOKS + "; names a webhook, not a file or folder"
    ),
    "ai_qa_single_file": _need(_AI, R, "item", "Box AI (Manage AI) reads the one file's content"),
    "ai_qa_multi_file": _need(_AI, R, "scopes", _AI_FILES),
    "ai_qa_hub": _need(
        _AI + " base_explorer",
        R,
        "scopes",
        "Box AI reads a hub's items; a hub is no file or folder to bind to",
    ),
    "ai_extract_freeform": _need(_AI, R, "scopes", _AI_FILES),
    "ai_extract_structured_from_fields": _need(_AI, R, "scopes", _AI_FILES),
    "ai_extract_structured_from_fields_enhanced": _need(_AI, R, "scopes", _AI_FILES),
    "ai_extract_structured_from_metadata_template": _need(_AI, R, "scopes", _AI_FILES),
    "ai_extract_structured_from_metadata_template_enhanced": _need(_AI, R, "scopes", _AI_FILES),
}


def need(tool: str) -> Need:
    try:
        return TABLE[tool]
    except KeyError:
        raise KeyError(f"tool {tool!r} has no row in box_mcp.tools.scopes.TABLE: add one") from None


def box_scopes(tool: str) -> frozenset[str]:
    """A ToolSpec's `box_scopes`, from its row."""
    return need(tool).box_scopes


START, END = "<!-- downscope:start -->", "<!-- downscope:end -->"


def markdown_table() -> str:
    """The README's downscope table: `python -m box_mcp.tools.scopes --write` (a test keeps it in sync)."""
    lines = ["| tool | token scopes | bound to the item | why |", "|---|---|---|---|"]
    for name, row in TABLE.items():
        bound = "yes" if row.binding == "item" else "no"
        lines.append(f"| `{name}` | {' '.join(sorted(row.scopes))} | {bound} | {row.why} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--write" not in args:
        print(markdown_table())
        return 0
    readme = Path(args[args.index("--readme") + 1]) if "--readme" in args else Path("README.md")
    text = readme.read_text(encoding="utf-8")
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise SystemExit(f"{readme} has no {START} ... {END} block")
    table = markdown_table()
    readme.write_text(text[: start + len(START)] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
