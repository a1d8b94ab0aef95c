"""The emulator's SQLite schema: every table, applied once when a `Store` opens (idempotent, so a data
dir made by an older emulator opens too)."""

from __future__ import annotations

# Times are stored as UNIX seconds (REAL) and rendered as Box's ISO-8601 with offset.
# JSON columns hold small documents (tags, shared_link, lock, template fields) as text.
SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS enterprises (id TEXT PRIMARY KEY, name TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT,
    login TEXT NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'user',          -- admin | coadmin | user
    kind TEXT NOT NULL DEFAULT 'managed',       -- managed | app_user | service_account
    status TEXT NOT NULL DEFAULT 'active',
    job_title TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'en',
    timezone TEXT NOT NULL DEFAULT 'America/Los_Angeles',
    space_amount INTEGER NOT NULL DEFAULT 10737418240,
    max_upload_size INTEGER NOT NULL DEFAULT 5368709120,
    can_see_managed_users INTEGER NOT NULL DEFAULT 1,
    is_platform_access_only INTEGER NOT NULL DEFAULT 0,
    external_app_user_id TEXT,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS users_login ON users(login);

-- Registered applications: OAuth clients and server-auth (CCG / JWT) apps.
CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,                    -- oauth | server
    name TEXT NOT NULL,
    enterprise_id TEXT,
    service_account_id TEXT,
    scopes TEXT NOT NULL,                  -- space-separated app scopes
    redirect_uris TEXT NOT NULL DEFAULT '[]',
    can_act_as_user INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS app_keys (
    client_id TEXT NOT NULL, kid TEXT NOT NULL, public_pem TEXT NOT NULL, PRIMARY KEY (client_id, kid)
);

-- Tokens are stored by SHA-256 only: a leaked database holds no usable bearer token.
CREATE TABLE IF NOT EXISTS tokens (
    sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL,                    -- access | refresh | code
    grant TEXT NOT NULL,                   -- developer | authorization_code | client_credentials | jwt | ...
    user_id TEXT NOT NULL,
    client_id TEXT,
    scopes TEXT NOT NULL,
    resource TEXT,                         -- downscoped: "file:123" / "folder:456"
    parent_sha256 TEXT,
    extra TEXT NOT NULL DEFAULT '{}',      -- code: redirect_uri, PKCE challenge
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS jwt_ids (jti TEXT PRIMARY KEY, expires_at REAL NOT NULL);

-- Files, folders and web links share one table: they share a tree, names, trash and etags.
CREATE TABLE IF NOT EXISTS items (
    id TEXT PRIMARY KEY,
    type TEXT NOT NULL,                    -- file | folder | web_link
    name TEXT NOT NULL,
    parent_id TEXT,                        -- '0' = the owner's root; NULL only for roots
    owner_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    modified_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    content_created_at REAL,
    content_modified_at REAL,
    description TEXT NOT NULL DEFAULT '',
    tags TEXT NOT NULL DEFAULT '[]',
    etag INTEGER NOT NULL DEFAULT 0,
    sequence_id INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL DEFAULT 'active', -- active | trashed | deleted
    trashed_at REAL,
    trashed_by TEXT,
    trash_root INTEGER NOT NULL DEFAULT 0, -- 1 for the item the user trashed (what the trash lists)
    purge_at REAL,
    shared_link TEXT,                      -- JSON or NULL
    lock TEXT,                             -- JSON or NULL
    version_id TEXT,                       -- files: current version
    size INTEGER NOT NULL DEFAULT 0,
    sha1 TEXT,
    url TEXT,                              -- web links
    sync_state TEXT NOT NULL DEFAULT 'not_synced'
);
CREATE INDEX IF NOT EXISTS items_parent ON items(parent_id, status);
CREATE INDEX IF NOT EXISTS items_owner ON items(owner_id);

CREATE TABLE IF NOT EXISTS file_versions (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL,
    version_number INTEGER NOT NULL,
    name TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    blob TEXT NOT NULL,                    -- content address (SHA-256 hex)
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    modified_by TEXT NOT NULL,
    trashed_at REAL,
    trashed_by TEXT,
    uploader_display_name TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS file_versions_file ON file_versions(file_id);

CREATE TABLE IF NOT EXISTS collaborations (
    id TEXT PRIMARY KEY,
    item_type TEXT NOT NULL,
    item_id TEXT NOT NULL,
    accessible_by_type TEXT NOT NULL,      -- user | group
    accessible_by_id TEXT NOT NULL,
    invite_email TEXT,
    role TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'accepted',
    can_view_path INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL,
    expires_at REAL,
    acknowledged_at REAL
);
CREATE INDEX IF NOT EXISTS collaborations_item ON collaborations(item_type, item_id);
CREATE INDEX IF NOT EXISTS collaborations_who ON collaborations(accessible_by_type, accessible_by_id);

CREATE TABLE IF NOT EXISTS groups (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    provenance TEXT NOT NULL DEFAULT '',
    external_sync_identifier TEXT NOT NULL DEFAULT '',
    invitability_level TEXT NOT NULL DEFAULT 'admins_only',
    member_viewability_level TEXT NOT NULL DEFAULT 'admins_only',
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS group_memberships (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'member',
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS group_memberships_user ON group_memberships(user_id);

CREATE TABLE IF NOT EXISTS metadata_templates (
    id TEXT PRIMARY KEY,
    scope TEXT NOT NULL,                   -- enterprise_<id> | global
    template_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    hidden INTEGER NOT NULL DEFAULT 0,
    copy_instance_on_item_copy INTEGER NOT NULL DEFAULT 0,
    fields TEXT NOT NULL DEFAULT '[]',
    UNIQUE(scope, template_key)
);
CREATE TABLE IF NOT EXISTS metadata_instances (
    id TEXT PRIMARY KEY,
    item_type TEXT NOT NULL,
    item_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    template_key TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}',
    version INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    UNIQUE(item_type, item_id, scope, template_key)
);

-- User events; `position` is the stream position /events pages by.
CREATE TABLE IF NOT EXISTS events (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    source_type TEXT,
    source_id TEXT,
    source TEXT,                           -- JSON snapshot of the source at the time
    created_by TEXT,
    created_at REAL NOT NULL,
    additional_details TEXT
);

CREATE TABLE IF NOT EXISTS download_links (
    sha256 TEXT PRIMARY KEY, file_id TEXT NOT NULL, version_id TEXT NOT NULL, expires_at REAL NOT NULL
);

-- What an upload preflight (OPTIONS /files/content, /files/{id}/content) handed out: its upload_url names
-- the grant (upload_session_id=id) and its upload_token (kept as SHA-256 only) authorizes one upload there.
CREATE TABLE IF NOT EXISTS upload_grants (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    user_id TEXT NOT NULL,                 -- who the preflight acted as; the upload acts as them
    folder_id TEXT,                        -- a new file: its folder and name
    file_id TEXT,                          -- a new version of this file (file_name: its new name, if any)
    file_name TEXT,
    size INTEGER,
    expires_at REAL NOT NULL,
    used_at REAL
);

-- Paged preview representations generated for a file version (info.url asked once: state none -> success).
CREATE TABLE IF NOT EXISTS representation_renders (
    version_id TEXT NOT NULL, representation TEXT NOT NULL, pages INTEGER NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (version_id, representation)
);

CREATE TABLE IF NOT EXISTS upload_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    folder_id TEXT NOT NULL,
    file_id TEXT,                          -- set for a new-version session
    file_name TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    part_size INTEGER NOT NULL,
    total_parts INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'open'    -- open | committed | aborted
);
CREATE TABLE IF NOT EXISTS upload_parts (
    session_id TEXT NOT NULL,
    part_id TEXT NOT NULL,
    offset INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha1 TEXT NOT NULL,
    sha512 TEXT NOT NULL DEFAULT '',
    blob TEXT NOT NULL,
    PRIMARY KEY (session_id, offset)
);

-- Comments: `item_id` is always the file (so a file's comment_count includes replies); `reply_to` the parent.
CREATE TABLE IF NOT EXISTS comments (
    id TEXT PRIMARY KEY,
    item_id TEXT NOT NULL,
    reply_to TEXT,
    message TEXT NOT NULL,
    tagged_message TEXT,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    modified_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_item ON comments(item_id);

-- Tasks on files and their assignments.
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    file_id TEXT NOT NULL,
    action TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    due_at REAL,
    completion_rule TEXT NOT NULL,
    is_completed INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_file ON tasks(file_id);
CREATE TABLE IF NOT EXISTS task_assignments (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    assigned_to TEXT NOT NULL,
    assigned_by TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    resolution_state TEXT NOT NULL DEFAULT 'incomplete',
    assigned_at REAL NOT NULL,
    completed_at REAL,
    reminded_at REAL
);
CREATE INDEX IF NOT EXISTS task_assignments_task ON task_assignments(task_id);

-- Webhooks (V2), their signing keys and the delivery log.
CREATE TABLE IF NOT EXISTS webhook_keys (
    client_id TEXT PRIMARY KEY,            -- '' = the default pair (developer tokens and unlisted apps)
    primary_key TEXT NOT NULL,
    secondary_key TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS collections (   -- each user's Favorites, made the first time it is asked for
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_items (
    collection_id TEXT NOT NULL,
    item_type TEXT NOT NULL,
    item_id TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (collection_id, item_type, item_id)
);
CREATE TABLE IF NOT EXISTS webhooks (
    id TEXT PRIMARY KEY,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    address TEXT NOT NULL,
    triggers TEXT NOT NULL,
    created_by TEXT NOT NULL,
    client_id TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    trigger TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    at REAL NOT NULL
);

-- Folder locks ("freeze"): a folder that cannot be moved (to another place or owner) or deleted while a
-- lock is on it. Box locks move and delete together; both are stored for the wire shape.
CREATE TABLE IF NOT EXISTS folder_locks (
    id TEXT PRIMARY KEY,
    folder_id TEXT NOT NULL,
    locks_move INTEGER NOT NULL DEFAULT 1,
    locks_delete INTEGER NOT NULL DEFAULT 1,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS folder_locks_folder ON folder_locks(folder_id);

-- Box Hubs (2025.0 API): a hub, who may see it (owner = created_by, plus hub collaborations), and the
-- items it references (files, folders, web links: a hub holds references, not copies). Each hub has one
-- item list block (`item_list_id`), the `parent_id` its items are listed under.
CREATE TABLE IF NOT EXISTS hubs (
    id TEXT PRIMARY KEY,
    enterprise_id TEXT,
    title TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    item_list_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    updated_by TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    view_count INTEGER NOT NULL DEFAULT 0,
    is_ai_enabled INTEGER NOT NULL DEFAULT 1,
    is_collaboration_restricted_to_enterprise INTEGER NOT NULL DEFAULT 0,
    can_non_owners_invite INTEGER NOT NULL DEFAULT 1,
    can_shared_link_be_created INTEGER NOT NULL DEFAULT 1,
    can_public_shared_link_be_created INTEGER NOT NULL DEFAULT 0,
    copy_hub_access TEXT NOT NULL DEFAULT 'company'   -- all | company | none
);
CREATE TABLE IF NOT EXISTS hub_collaborations (
    id TEXT PRIMARY KEY,
    hub_id TEXT NOT NULL,
    accessible_by_type TEXT NOT NULL,      -- user | group
    accessible_by_id TEXT NOT NULL,
    role TEXT NOT NULL,                    -- co-owner | editor | viewer
    status TEXT NOT NULL DEFAULT 'accepted',
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS hub_collaborations_hub ON hub_collaborations(hub_id);
CREATE TABLE IF NOT EXISTS hub_items (
    hub_id TEXT NOT NULL,
    item_type TEXT NOT NULL,
    item_id TEXT NOT NULL,
    parent_id TEXT NOT NULL,               -- the item list block it is listed under
    position INTEGER NOT NULL,
    added_by TEXT NOT NULL,
    added_at REAL NOT NULL,
    PRIMARY KEY (hub_id, item_type, item_id)
);

-- Box Doc Gen (2025.0 API): files marked as templates, batches, and one job per generated document.
CREATE TABLE IF NOT EXISTS docgen_templates (
    file_id TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS docgen_batches (
    id TEXT PRIMARY KEY,
    template_file_id TEXT NOT NULL,
    template_version_id TEXT NOT NULL,
    destination_folder_id TEXT NOT NULL,
    output_type TEXT NOT NULL,
    input_source TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS docgen_jobs (
    id TEXT PRIMARY KEY,
    batch_id TEXT NOT NULL,
    template_file_id TEXT NOT NULL,
    template_version_id TEXT NOT NULL,
    generated_file_name TEXT NOT NULL,
    status TEXT NOT NULL,                  -- submitted | pending | completed | completed_with_error | failed
    output_type TEXT NOT NULL,
    output_file_id TEXT,
    output_version_id TEXT,
    failures TEXT,                         -- JSON {errors: [...], warnings: [...]} or NULL
    enterprise_id TEXT,
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS docgen_jobs_batch ON docgen_jobs(batch_id);
"""
