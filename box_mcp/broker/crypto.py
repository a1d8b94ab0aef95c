"""Encryption at rest for the vault: AES-256-GCM with a key from BOX_MCP_VAULT_KEY or a 0600 key file."""

from __future__ import annotations

import base64
import binascii
import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from box_mcp.errors import ConfigError

KEY_ENV = "BOX_MCP_VAULT_KEY"  # named in errors; config.Settings.vault_key reads it
KEY_FILE = "vault.key"
_VERSION = b"\x01"  # first byte of every blob, so a later scheme can coexist
_NONCE = 12


class VaultKeyMismatch(ConfigError):
    """A stored secret does not decrypt with this key (wrong key, or the vault was tampered with)."""


def new_key_text() -> str:
    """A fresh key in the form BOX_MCP_VAULT_KEY expects (urlsafe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


def _decode_key(text: str, where: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii") + b"==")
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(
            f"{where} is not a vault key: it must be urlsafe base64 of 32 bytes "
            f'(make one with: python -c "import secrets,base64;print(base64.urlsafe_b64encode('
            f'secrets.token_bytes(32)).decode())")'
        )
    return raw


def load_or_create_key(data_dir: Path, vault_key: SecretStr | None = None) -> bytes:
    """The vault key: `vault_key` (Settings.vault_key, from BOX_MCP_VAULT_KEY) if set, else
    DATA_DIR/vault.key (created 0600 on first run)."""
    if vault_key is not None and vault_key.get_secret_value():
        return _decode_key(vault_key.get_secret_value(), KEY_ENV)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    return _decode_key(path.read_text(encoding="ascii"), str(path))


def _create_key_file(path: Path) -> None:
    """Write a new key to a private temporary file and link it into place: the name only ever holds a
    whole key, and when two processes start at once the first link wins and both read that key."""
    text = new_key_text() + "\n"
    fd, temp = tempfile.mkstemp(prefix=".vault-key-", dir=path.parent)  # mode 0600
    try:
        _write(fd, text)
        try:
            os.link(temp, path)
        except FileExistsError:
            pass  # another process made the key first; use theirs
        except OSError:  # no hard links on this file system: an exclusive create is the next best
            try:
                _write(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), text)
            except FileExistsError:
                pass
    finally:
        os.unlink(temp)


def _write(fd: int, text: str) -> None:
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


class Cipher:
    """AES-GCM with a random nonce per value; `aad` binds a ciphertext to its row and field."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "Cipher(AES-256-GCM)"

    def encrypt(self, plaintext: str, aad: str) -> bytes:
        nonce = os.urandom(_NONCE)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))

    def decrypt(self, blob: bytes, aad: str) -> str:
        if len(blob) < 1 + _NONCE + 16 or blob[:1] != _VERSION:
            raise VaultKeyMismatch("a vault entry is corrupt; run `box-mcp auth logout` and sign in again")
        try:
            plain = self._aead.decrypt(blob[1 : 1 + _NONCE], blob[1 + _NONCE :], aad.encode("utf-8"))
        except InvalidTag:
            raise VaultKeyMismatch(
                f"the vault does not decrypt with this key: restore the {KEY_ENV} (or vault.key) it was "
                "written with, or remove the vault file and sign in again"
            ) from None
        return plain.decode("utf-8")
