"""Which fields each item type has (standard and requestable) and parsing the `fields` query parameter."""

from __future__ import annotations

from .errors import BoxError

FOLDER_STANDARD = (
    "type",
    "id",
    "sequence_id",
    "etag",
    "name",
    "created_at",
    "modified_at",
    "description",
    "size",
    "path_collection",
    "created_by",
    "modified_by",
    "trashed_at",
    "purged_at",
    "content_created_at",
    "content_modified_at",
    "owned_by",
    "shared_link",
    "folder_upload_email",
    "parent",
    "item_status",
)
FILE_STANDARD = (
    "type",
    "id",
    "file_version",
    "sequence_id",
    "etag",
    "sha1",
    "name",
    "description",
    "size",
    "path_collection",
    "created_at",
    "modified_at",
    "trashed_at",
    "purged_at",
    "content_created_at",
    "content_modified_at",
    "created_by",
    "modified_by",
    "owned_by",
    "shared_link",
    "parent",
    "item_status",
)
FOLDER_EXTRA = (
    "item_collection",
    "permissions",
    "tags",
    "has_collaborations",
    "can_non_owners_invite",
    "can_non_owners_view_collaborators",
    "is_externally_owned",
    "is_collaboration_restricted_to_enterprise",
    "allowed_shared_link_access_levels",
    "allowed_invitee_roles",
    "sync_state",
    "watermark_info",
    "metadata",
    "is_accessible_via_shared_link",
    "classification",
    "is_associated_with_app_item",
)
FILE_EXTRA = (
    "version_number",
    "comment_count",
    "permissions",
    "tags",
    "lock",
    "extension",
    "is_package",
    "expiring_embed_link",
    "watermark_info",
    "is_accessible_via_shared_link",
    "allowed_invitee_roles",
    "is_externally_owned",
    "has_collaborations",
    "metadata",
    "expires_at",
    "representations",
    "classification",
    "uploader_display_name",
    "disposition_at",
    "shared_link_permission_options",
    "is_associated_with_app_item",
)
KNOWN_FIELDS = {
    "folder": frozenset(FOLDER_STANDARD + FOLDER_EXTRA),
    "file": frozenset(FILE_STANDARD + FILE_EXTRA),
    "web_link": frozenset(
        (
            "type",
            "id",
            "sequence_id",
            "etag",
            "name",
            "url",
            "description",
            "parent",
            "path_collection",
            "created_at",
            "modified_at",
            "trashed_at",
            "purged_at",
            "created_by",
            "modified_by",
            "owned_by",
            "shared_link",
            "item_status",
        )
    ),
}
INVITEE_ROLES = [
    "editor",
    "viewer",
    "previewer",
    "uploader",
    "previewer uploader",
    "viewer uploader",
    "co-owner",
]


def parse_fields(
    raw: str | None, item_types: tuple[str, ...] = ("file", "folder", "web_link")
) -> list[str] | None:
    """`fields=a,b`: None when absent; unknown names are refused with the name in the message."""
    if raw is None:
        return None
    names = [f.strip() for f in raw.split(",") if f.strip()]
    known = frozenset().union(*(KNOWN_FIELDS[t] for t in item_types))
    for name in names:
        if name not in known and not name.startswith("metadata."):
            raise BoxError(
                400,
                "bad_request",
                f"Unknown field '{name}' requested in 'fields'",
                context_info={
                    "errors": [
                        {
                            "reason": "invalid_parameter",
                            "name": "fields",
                            "message": f"Invalid value '{name}'.",
                        }
                    ]
                },
            )
    return names
