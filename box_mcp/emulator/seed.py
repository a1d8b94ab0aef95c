"""Seeds: `demo` (a small believable enterprise, deterministic ids) and `empty`; writes credentials.json."""

from __future__ import annotations

import functools
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import items, webhook_delivery
from .auth import FULL_APP_SCOPES, issue_token
from .seed_content import FILES
from .store import Store, now, sha256_hex

SEEDS = ("demo", "empty")
DEV_TOKEN_TTL = 90 * 24 * 3600  # developer tokens outlive a demo session; expiry is still enforced
SERVER_CLIENT_ID = "acmeagentgateway0000000000000001"
OAUTH_CLIENT_ID = "acmeoauthclient00000000000000001"
JWT_KID = "acmekey1"
SERVER_SCOPES = FULL_APP_SCOPES
OAUTH_SCOPES = frozenset(
    {"root_readwrite", "manage_groups", "manage_webhook", "manage_managed_users", "ai.readwrite"}
)
REDIRECT_URIS = ["http://127.0.0.1/callback", "http://localhost/callback"]

USERS = [  # (key, name, login, role, kind)
    ("ada", "Ada Admin", "ada@acme.example", "admin", "managed"),
    ("bob", "Bob Builder", "bob@acme.example", "user", "managed"),
    ("carol", "Carol Counsel", "carol@acme.example", "user", "managed"),
    ("hrbot", "HR Sandbox Bot", "AppUser_hrsandbox@boxdevedition.com", "user", "app_user"),
    (
        "service",
        "Acme Agent Gateway",
        "AutomationUser_acmeagentgateway@boxdevedition.com",
        "user",
        "service_account",
    ),
]
FOLDERS = [
    "Contracts",
    "Contracts/Inbox",
    "Contracts/Archive",
    "Finance",
    "HR",
    "HR/Sandbox",
    "Engineering",
    "Marketing",
]


@functools.lru_cache(maxsize=1)
def _cached_keypair() -> tuple[bytes, str]:
    return _new_keypair()


def _new_keypair() -> tuple[bytes, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ), public


def _encrypted(raw_private: bytes, passphrase: str) -> str:
    key = serialization.load_pem_private_key(raw_private, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    ).decode()


@functools.lru_cache(maxsize=1)
def _cached_encrypted_key() -> tuple[str, str, str]:
    """The process's one memory-store key as (public PEM, encrypted private PEM, its passphrase)."""
    raw_private, public = _cached_keypair()
    passphrase = secrets.token_urlsafe(24)
    return public, _encrypted(raw_private, passphrase), passphrase


def _jwt_config(store: Store, enterprise_id: str, client_secret: str, memory: bool) -> dict[str, Any]:
    # Memory stores (tests) reuse one key per process: generating RSA keys per test is slow.
    if memory:  # and one encrypted PEM: loading and re-encrypting the key costs ~35 ms per seed
        public, private_pem, passphrase = _cached_encrypted_key()
    else:
        raw_private, public = _new_keypair()
        passphrase = store.new_secret()
        private_pem = _encrypted(raw_private, passphrase)
    store.insert("app_keys", {"client_id": SERVER_CLIENT_ID, "kid": JWT_KID, "public_pem": public})
    return {
        "boxAppSettings": {
            "clientID": SERVER_CLIENT_ID,
            "clientSecret": client_secret,
            "appAuth": {"publicKeyID": JWT_KID, "privateKey": private_pem, "passphrase": passphrase},
        },
        "enterpriseID": enterprise_id,
    }


def _base(store: Store, base_url: str, memory: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """Enterprise, users, apps and developer tokens: what every seed (even `empty`) has."""
    ts = now()
    enterprise_id = store.next_id("enterprise")
    store.insert("enterprises", {"id": enterprise_id, "name": "Acme Corp"})
    ids: dict[str, str] = {}
    creds_users = []
    for key, name, login, role, kind in USERS:
        uid = store.next_id("user")
        ids[key] = uid
        store.insert(
            "users",
            {
                "id": uid,
                "enterprise_id": enterprise_id,
                "login": login,
                "name": name,
                "role": role,
                "kind": kind,
                "created_at": ts,
                "modified_at": ts,
                "is_platform_access_only": int(kind == "app_user"),
            },
        )
        token = issue_token(store, user_id=uid, grant="developer", scopes=FULL_APP_SCOPES, ttl=DEV_TOKEN_TTL)
        creds_users.append(
            {
                "id": uid,
                "login": login,
                "name": name,
                "role": kind if kind != "managed" else role,
                "developer_token": token,
            }
        )
    server_secret, oauth_secret = store.new_secret(), store.new_secret()
    store.insert(
        "apps",
        {
            "client_id": SERVER_CLIENT_ID,
            "secret_sha256": sha256_hex(server_secret),
            "kind": "server",
            "name": "Acme Agent Gateway",
            "enterprise_id": enterprise_id,
            "service_account_id": ids["service"],
            "scopes": " ".join(sorted(SERVER_SCOPES)),
        },
    )
    store.insert(
        "apps",
        {
            "client_id": OAUTH_CLIENT_ID,
            "secret_sha256": sha256_hex(oauth_secret),
            "kind": "oauth",
            "name": "box-mcp (OAuth)",
            "enterprise_id": enterprise_id,
            "scopes": " ".join(sorted(OAUTH_SCOPES)),
            "redirect_uris": json.dumps(REDIRECT_URIS),
            "can_act_as_user": 0,
        },
    )
    credentials = {
        "base_url": base_url,
        "enterprise_id": enterprise_id,
        "users": creds_users,
        "ccg": {
            "client_id": SERVER_CLIENT_ID,
            "client_secret": server_secret,
            "enterprise_id": enterprise_id,
        },
        "jwt_config": _jwt_config(store, enterprise_id, server_secret, memory),
        "oauth": {
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": oauth_secret,
            "redirect_uris": REDIRECT_URIS,
        },
        "folders": {},
        "files": {},
    }
    return credentials, ids


def _collaborate(store: Store, item_id: str, who_type: str, who_id: str, role: str, by: str) -> None:
    ts = now()
    store.insert(
        "collaborations",
        {
            "id": store.next_id("collaboration"),
            "item_type": "folder",
            "item_id": item_id,
            "accessible_by_type": who_type,
            "accessible_by_id": who_id,
            "role": role,
            "created_by": by,
            "created_at": ts,
            "modified_at": ts,
            "acknowledged_at": ts,
        },
    )


def _demo(store: Store, credentials: dict[str, Any], ids: dict[str, str]) -> None:
    admin = ids["ada"]
    folders: dict[str, str] = {}
    for path in FOLDERS:
        parent, _, name = path.rpartition("/")
        row = items.create_folder(store, folders[parent] if parent else items.ROOT_ID, name, admin)
        folders[path] = row["id"]
    files: dict[str, str] = {}
    for path, data in FILES.items():
        parent, _, name = path.rpartition("/")
        row = items.create_file(store, folders[parent], name, admin, store.put_bytes(data))
        files[path] = row["id"]
    store.execute(
        "UPDATE items SET description = ? WHERE id = ?",
        ("Customer and vendor agreements", folders["Contracts"]),
    )
    store.execute(
        "UPDATE items SET tags = ? WHERE id = ?",
        (json.dumps(["contract", "globex"]), files["Contracts/MSA-Globex.pdf"]),
    )
    ts = now()
    group_id = store.next_id("group")
    store.insert(
        "groups",
        {
            "id": group_id,
            "enterprise_id": credentials["enterprise_id"],
            "name": "Legal",
            "description": "Legal and contracts team",
            "created_at": ts,
            "modified_at": ts,
        },
    )
    store.insert(
        "group_memberships",
        {
            "id": store.next_id("group_membership"),
            "group_id": group_id,
            "user_id": ids["carol"],
            "role": "member",
            "created_at": ts,
            "modified_at": ts,
        },
    )
    _collaborate(store, folders["Contracts"], "user", ids["carol"], "editor", admin)
    _collaborate(store, folders["Engineering"], "user", ids["bob"], "viewer", admin)
    _collaborate(store, folders["HR/Sandbox"], "user", ids["hrbot"], "editor", admin)
    link = {
        "token": "acmeengineeringreadme0001",
        "access": "company",
        "permissions": {"can_download": True},
        "created_by": admin,
        "created_at": ts,
    }
    store.execute(
        "UPDATE items SET shared_link = ? WHERE id = ?", (json.dumps(link), files["Engineering/README.md"])
    )
    scope = f"enterprise_{credentials['enterprise_id']}"
    store.insert(
        "metadata_templates",
        {
            "id": "b3a1c5e0-0000-4000-8000-00000000c0de",
            "scope": scope,
            "template_key": "contract",
            "display_name": "Contract",
            "fields": json.dumps(
                [
                    {
                        "id": "f1",
                        "type": "string",
                        "key": "counterparty",
                        "displayName": "Counterparty",
                        "hidden": False,
                    },
                    {"id": "f2", "type": "float", "key": "value", "displayName": "Value", "hidden": False},
                    {"id": "f3", "type": "date", "key": "expires", "displayName": "Expires", "hidden": False},
                ]
            ),
        },
    )
    for index, (path, values) in enumerate(
        (
            (
                "Contracts/MSA-Globex.pdf",
                {
                    "counterparty": "Globex Corporation",
                    "value": 120000,
                    "expires": "2027-06-30T00:00:00.000Z",
                },
            ),
            (
                "Contracts/NDA-Initech.pdf",
                {"counterparty": "Initech", "value": 0, "expires": "2028-01-31T00:00:00.000Z"},
            ),
        )
    ):
        store.insert(
            "metadata_instances",
            {
                "id": f"c0ffee00-0000-4000-8000-00000000000{index + 1}",
                "item_type": "file",
                "item_id": files[path],
                "scope": scope,
                "template_key": "contract",
                "data": json.dumps(values),
                "created_at": ts,
            },
        )
    credentials["folders"], credentials["files"] = folders, files
    credentials["groups"] = {"Legal": group_id}


def ensure_seeded(store: Store, seed: str, base_url: str) -> dict[str, Any]:
    """Seed a fresh store; for an already seeded data dir, reload its credentials.json."""
    if seed not in SEEDS:
        raise ValueError(f"unknown seed {seed!r}; use one of {', '.join(SEEDS)}")
    if store.get_meta("seed") is not None:
        existing = store.data_dir / "credentials.json"
        if existing.exists():
            data: dict[str, Any] = json.loads(existing.read_text())
            data["base_url"] = base_url
            data.setdefault("webhook_keys", webhook_delivery.ensure_keys(store))
            return data
        raise RuntimeError(
            f"{store.data_dir} holds a seeded store but no credentials.json; use a new --data-dir"
        )
    memory = store.conn.execute("PRAGMA database_list").fetchone()["file"] == ""
    with store.tx():
        credentials, ids = _base(store, base_url, memory)
        if seed == "demo":
            _demo(store, credentials, ids)
        store.set_meta("seed", seed)
    credentials["webhook_keys"] = webhook_delivery.ensure_keys(store)  # signs webhook deliveries
    return credentials


def write_credentials(path: Path, credentials: dict[str, Any]) -> None:
    """Write credentials.json readable by its owner only (it holds tokens, secrets and a private key)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an older file with a looser mode is tightened before the secrets go in
    with os.fdopen(fd, "w") as fh:
        json.dump(credentials, fh, indent=2)
    db = path.parent / "box.sqlite3"
    if db.exists():
        os.chmod(db, 0o600)
