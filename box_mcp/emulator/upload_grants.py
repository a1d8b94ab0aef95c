"""Upload URLs from the preflight check: `OPTIONS /files/content` (a new file) and `/files/{id}/content`
(a new version) answer Box's `upload_url` + `upload_token` (the spec's UploadUrl: "an optional access
token to use to upload the file").

The emulator binds them the way a signed URL is bound: the upload_url names one grant
(`?upload_session_id=<id>`), the upload_token is accepted only as the bearer of an upload to that URL, only
for the folder and name (or the file) the preflight checked, only once, and only until it expires. The
upload acts as the user the preflight acted as, with an uploader's scopes on that one item. The token is
kept as its SHA-256, like every other emulator token.
"""

from __future__ import annotations

import hmac
import sqlite3

from starlette.requests import Request

from .auth import Caller
from .common import emulator, store
from .errors import BoxError
from .store import Store, now, sha256_hex

UPLOAD_URL_TTL = 600  # seconds from the preflight to the start of the upload
UPLOAD_SCOPES = frozenset({"base_upload", "item_upload"})
PARAM = "upload_session_id"


def issue(
    request: Request,
    user_id: str,
    *,
    folder_id: str | None = None,
    file_id: str | None = None,
    file_name: str | None = None,
    size: int | None = None,
) -> dict[str, str]:
    """Box's UploadUrl for one upload: `upload_url` (names the grant) and `upload_token` (its secret)."""
    st = store(request)
    grant_id, token = st.new_secret(), st.new_secret()
    with st.tx():
        st.execute("DELETE FROM upload_grants WHERE expires_at < ?", (now() - UPLOAD_URL_TTL,))
        st.insert(
            "upload_grants",
            {
                "id": grant_id,
                "sha256": sha256_hex(token),
                "user_id": user_id,
                "folder_id": folder_id,
                "file_id": file_id,
                "file_name": file_name,
                "size": size,
                "expires_at": now() + UPLOAD_URL_TTL,
                "used_at": None,
            },
        )
    path = "/api/2.0/files/content" if file_id is None else f"/api/2.0/files/{file_id}/content"
    return {
        "upload_url": f"{emulator(request).origin(request)}{path}?{PARAM}={grant_id}",
        "upload_token": token,
    }


def _denied(message: str) -> BoxError:
    # Box's answer to a bearer it does not accept; the message never repeats the token or the grant id.
    return BoxError(
        401,
        "invalid_token",
        message,
        headers={"WWW-Authenticate": 'Bearer realm="Service", error="invalid_token"'},
    )


def claim(request: Request) -> sqlite3.Row | None:
    """For an upload sent to a preflight's upload_url: check its bearer against the grant and make the
    request act as the grant's user, bound to its item. None for an ordinary upload (no grant named)."""
    grant_id = request.query_params.get(PARAM)
    if grant_id is None:
        return None
    st = store(request)
    grant = st.fetch_one("SELECT * FROM upload_grants WHERE id = ?", (grant_id,))
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = sha256_hex(token.strip()) if scheme.lower() == "bearer" and token.strip() else ""
    if grant is None or not hmac.compare_digest(given, grant["sha256"]):
        raise _denied("The upload token does not belong to this upload URL.")
    if grant["used_at"] is not None:
        raise _denied("This upload URL was used already; run the preflight check again for a new one.")
    if grant["expires_at"] <= now():
        raise _denied("This upload URL has expired; run the preflight check again for a new one.")
    user = st.fetch_one("SELECT status FROM users WHERE id = ?", (grant["user_id"],))
    if user is None or user["status"] != "active":
        raise _denied("The upload token is no longer valid.")
    resource = f"file:{grant['file_id']}" if grant["file_id"] else f"folder:{grant['folder_id']}"
    request.state.caller = Caller(
        user_id=grant["user_id"],
        token_user_id=grant["user_id"],
        grant="upload_url",
        client_id=None,
        scopes=UPLOAD_SCOPES,
        resource=resource,
        token_sha256=grant["sha256"],
    )
    return grant


def check_new_file(grant: sqlite3.Row | None, parent_id: str, name: str) -> None:
    """A new file sent to an upload URL goes into the folder and under the name the preflight checked."""
    if grant is None:
        return
    if grant["file_id"] is not None or grant["folder_id"] != parent_id or grant["file_name"] != name:
        raise BoxError(
            400,
            "bad_request",
            "This upload URL is for another folder or file name: send the attributes the preflight checked",
        )


def check_new_version(grant: sqlite3.Row | None, file_id: str, name: str | None) -> None:
    """A new version sent to an upload URL is for its file, renamed only as the preflight checked."""
    if grant is None:
        return
    if grant["file_id"] != file_id or (name is not None and name != grant["file_name"]):
        raise BoxError(
            400, "bad_request", "This upload URL is for another file or name: send what the preflight checked"
        )


def check_size(grant: sqlite3.Row | None, size: int) -> None:
    if grant is not None and grant["size"] is not None and size != grant["size"]:
        raise BoxError(
            400,
            "bad_request",
            f"The preflight checked a {grant['size']}-byte upload; this one is {size} bytes",
        )


def use(st: Store, grant: sqlite3.Row | None) -> None:
    """Inside the upload's transaction: the grant is spent (a second upload to the URL is refused)."""
    if grant is None:
        return
    spent = st.execute(
        "UPDATE upload_grants SET used_at = ? WHERE id = ? AND used_at IS NULL", (now(), grant["id"])
    )
    if spent != 1:  # two uploads raced on one URL: the first one took it
        raise _denied("This upload URL was used already; run the preflight check again for a new one.")
