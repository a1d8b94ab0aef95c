"""BoxError: the one exception the emulator raises for any client-visible failure (Box's error body)."""

from __future__ import annotations

from typing import Any

HELP_URL = "http://developers.box.com/docs/#errors"

# Default messages, worded as in Box's error table, so a bare code still reads like Box.
MESSAGES: dict[str, str] = {
    "bad_request": "Bad request",
    "bad_digest": "The specified content-md5 did not match what we received",
    "item_name_invalid": "Item name invalid",
    "item_name_too_long": "Item name too long",
    "metadata_after_file_contents": "Metadata is included after file contents in a file upload request.",
    "invalid_limit": "Limit is not a valid number",
    "invalid_offset": "Offset is not a valid number",
    "invalid_api_version": "The API version specified is not supported",
    "invalid_request_parameters": "Invalid input parameters in request",
    "unauthorized": "Unauthorized",
    "invalid_token": "The access token provided is invalid.",
    "access_denied_insufficient_permissions": "Access denied - insufficient permission",
    "insufficient_scope": "The request requires higher privileges than provided by the access token.",
    "access_denied_item_locked": "Access denied - item locked",
    "not_found": "Not Found",
    "trashed": "Item is trashed",
    "not_trashed": "Item is not trashed",
    "method_not_allowed": "Method Not Allowed",
    "item_name_in_use": "Item with the same name already exists",
    "conflict": "A resource with this value already exists",
    "folder_not_empty": "Cannot delete - folder not empty",
    "cyclical_folder_structure": "Folder move creates cyclical folder structure",
    "user_already_collaborator": "User is already a collaborator",
    "precondition_failed": "The resource has been modified. Please retrieve the resource again and retry",
    "session_expired": "The upload session has expired",
    "requested_range_not_satisfiable": "Requested range not satisfiable",
    "request_entity_too_large": "Request Entity Too Large",
    "rate_limit_exceeded": "Request rate limit exceeded, please try again later",
    "internal_server_error": "Internal Server Error",
    "unavailable": "Unavailable",
    "request_header_fields_too_large": "Request header fields too large",
}


class BoxError(Exception):
    """A Box API error; the app turns it into `{"type":"error", ...}` with this status and code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        *,
        context_info: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, code.replace("_", " ").capitalize())
        self.context_info = context_info
        self.headers = headers or {}
        super().__init__(f"{status} {code}: {self.message}")

    def body(self, request_id: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "error",
            "status": self.status,
            "code": self.code,
            "help_url": HELP_URL,
            "message": self.message,
            "context_info": self.context_info,
            "request_id": request_id,
        }
        return body


class OAuthError(Exception):
    """An OAuth endpoint error: `{"error", "error_description"}` as RFC 6749 and Box answer it."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        self.error = error
        self.description = description
        self.status = status
        super().__init__(f"{error}: {description}")


def not_found(message: str = "Not Found") -> BoxError:
    return BoxError(404, "not_found", message)


def bad_request(message: str, code: str = "bad_request", **context: Any) -> BoxError:
    return BoxError(400, code, message, context_info=context or None)


def forbidden(code: str = "access_denied_insufficient_permissions", message: str | None = None) -> BoxError:
    return BoxError(403, code, message)
