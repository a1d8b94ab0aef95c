"""What every audit writer does alike before its storage: build and redact a record's body, refuse
appends once closed (or broken), the intent/outcome pair, `async with`. `AuditLog` (the data dir's files)
and `state.audit.PostgresAuditLog` (one chain in PostgreSQL) differ in `_enqueue` (how a body becomes a
durable record), `_check_open` and `aclose`."""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

from .event import AuditEvent
from .record import AuditRecord, build_body, event_body
from .redact import Redactor


class RecordWriter:
    def __init__(self, secret_fields: Iterable[str]) -> None:
        self._secret_fields = frozenset(secret_fields)
        self._redactor = Redactor(self._secret_fields)

    async def append(self, kind: str, **fields: Any) -> AuditRecord:
        """Write one record; returns when it is durable. `secret_fields=[...]` masks more argument names
        for this record only. Fields: see record.CALLER_FIELDS."""
        self._check_open()
        extra = fields.pop("secret_fields", None)
        return await self._enqueue(build_body(kind, fields, self._redactor_with(extra)))

    async def record(self, event: AuditEvent, *, secret_fields: Iterable[str] = ()) -> AuditRecord:
        """Write the record of `event` (checked by type when it was made, so not again, unlike
        `append`); returns when it is durable. `secret_fields` as in `append`."""
        self._check_open()
        return await self._enqueue(event_body(event, self._redactor_with(secret_fields)))

    async def intent(self, **fields: Any) -> str:
        """Write-ahead record for a write, durable before the write goes to Box; returns its id."""
        record = await self.append("intent", **fields)
        return record.id

    async def outcome(self, intent_id: str, **fields: Any) -> AuditRecord:
        """What became of the write announced by `intent_id`."""
        return await self.append("outcome", intent_id=intent_id, **fields)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _redactor_with(self, extra: Iterable[str] | None) -> Redactor:
        names = set(extra) if extra else None
        return Redactor(self._secret_fields | names) if names else self._redactor

    # -- what each storage provides ----------------------------------------------------------------

    def _check_open(self) -> None:
        """Raise AuditError when no record can be written now."""
        raise NotImplementedError

    async def _enqueue(self, body: dict[str, Any]) -> AuditRecord:
        """Make `body` a durable record of the chain; return it."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Wait for every pending record to be durable, then release the storage."""
        raise NotImplementedError
