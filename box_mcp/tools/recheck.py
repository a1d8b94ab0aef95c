"""How an agent sees whether a write that failed uncertainly (a 5xx after Box may have done it) happened.

The Box client puts the sentence in the error's fix ("do not simply retry; first <hint>"); the gate
hands it over with the tool's idempotency (`BoxClient.bound(check_hint=...)`). Every write tool has one:
a test walks the catalog.
"""

from __future__ import annotations

_FILE = "call get_file_details on the file to see whether it shows the change"
_FOLDER = "call get_folder_details on the folder to see whether it shows the change"
_LINK = "call get_shared_link on the item to see whether its link is as you asked"
_COLLABS = "call list_item_collaborations on the item to see whether the person's access is as you asked"
_METADATA = "read the item's metadata (get_file_metadata for a file) to see whether the values are set"
_TASKS = "list the file's tasks (list_tasks) to see whether the assignment's state is as you asked"
_WEB_LINK = (
    "call get_web_link on the link to see whether it shows the change (a deleted one is trashed or gone)"
)

HINTS: dict[str, str] = {
    # Not idempotent: sending these again blindly makes a second copy.
    "upload_file": "list the folder (list_folder_content_by_folder_id) to see whether the file arrived",
    "upload_file_version": "call get_file_details on the file to see whether its sha1 is the new content's",
    # Changes nothing in Box by itself (a preflight check); a retry issues a fresh URL.
    "get_upload_url": "call get_upload_url again: the check changes nothing in Box, so a new URL is safe",
    "copy_file": "list the destination folder to see whether the copy is there",
    "copy_folder": "list the destination folder to see whether the copy is there",
    "create_folder": "list the parent folder to see whether the folder exists",
    "create_collaboration": _COLLABS,
    "create_file_comment": "list the file's comments (list_file_comments) to see whether it was posted",
    # Idempotent: a retry is safe, but an etag given with the call moves on after the first attempt.
    "update_file_properties": _FILE,
    "move_file": _FILE,
    "delete_file": _FILE,
    "update_folder_properties": _FOLDER,
    "move_folder": _FOLDER,
    "delete_folder": _FOLDER,
    "add_file_shared_link": _LINK,
    "add_folder_shared_link": _LINK,
    "remove_shared_link": _LINK,
    "update_collaboration": _COLLABS,
    "delete_collaboration": _COLLABS,
    "set_file_metadata": _METADATA,
    "set_folder_metadata": _METADATA,
    # Hubs and Doc Gen: creating twice makes two hubs or two files; re-adding an item answers 409 for it.
    "create_hub": "list your hubs (list_hubs with the title as query) to see whether it was created",
    "copy_hub": "list your hubs (list_hubs with the title as query) to see whether the copy was made",
    "add_items_to_hub": "list the hub's items (get_hub_items) to see which were added",
    "update_hub": "call get_hub_details on the hub to see whether the change is there",
    "create_docgen_batch": "list the destination folder to see whether the generated file arrived",
    # Tasks: a second create or assign makes a second task or answers that the user is already assigned.
    "create_task": "list the file's tasks (list_tasks) to see whether the task was created",
    "assign_task": "list the file's tasks (list_tasks) to see whether the assignment is there",
    "update_task_assignment": _TASKS,
    "delete_task": "list the file's tasks (list_tasks) to see whether the task is gone",
    # Web links: creating twice makes two links.
    "create_web_link": "list the folder (list_folder_content_by_folder_id) to see whether the link is there",
    "update_web_link": _WEB_LINK,
    "delete_web_link": _WEB_LINK,
    # Metadata templates: a second create answers a conflict; an operation list may not apply twice.
    "create_metadata_template": "call get_metadata_template_schema with the key (or list_metadata_templates) "
    "to see whether the template exists",
    "update_metadata_template": "call get_metadata_template_schema on the template to see whether the change "
    "is there before sending the operations again",
    # Enterprise users and webhooks: a second create answers 409 (the login, or the target, is taken).
    "create_user": "list users (list_users with the login as filter_term) to see whether the user exists",
    "create_webhook": "list your webhooks (list_webhooks) to see whether one watches the target",
    "delete_webhook": "list your webhooks (list_webhooks) to see whether it is gone",
    # Trash: a second restore answers 404 not_trashed; a purge cannot be checked but by its absence.
    "restore_file_from_trash": "call get_file_details on the file to see whether it is back",
    "restore_folder_from_trash": "call get_folder_details on the folder to see whether it is back",
    "purge_trashed_item": "call get_trashed_item on it: not found means the purge happened",
    # Versions: promoting again adds one more copy of the old content as a new version.
    "promote_file_version": "list the file's versions (list_file_versions) and its details to see whether "
    "the old content became current",
    "restore_file_version": "list the file's versions (list_file_versions): a restored one has no trashed_at",
    "delete_file_version": "list the file's versions (list_file_versions): a deleted one shows trashed_at",
    # Locks: locking a folder again adds a second lock.
    "lock_file": "call get_file_details on the file and check its lock",
    "unlock_file": "call get_file_details on the file and check its lock",
    "lock_folder": "list the folder's locks (list_folder_locks) to see whether it is locked",
    "unlock_folder": "list the folder's locks (list_folder_locks) to see which remain",
}


def hint_for(tool: str) -> str | None:
    """The sentence for `tool`, or None (reads: nothing to check)."""
    return HINTS.get(tool)
