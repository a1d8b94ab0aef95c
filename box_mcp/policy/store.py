"""Hot reload: the engine for the current policy files, rebuilt when they change; last good kept on error.

`PolicyStore.engine()` is called on every tool call; it looks at file mtimes at most once per
`poll_interval` seconds, so the cost per call is a clock read. A broken file is logged and ignored:
a bad reload never opens access, it only delays the change.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from box_mcp.errors import PolicyError
from box_mcp.policy.engine import Engine, ToolInfo
from box_mcp.policy.model import SignIn, load_policy, policy_files

if TYPE_CHECKING:
    from box_mcp.identity import Person

log = logging.getLogger("box_mcp.policy")

Signature = tuple[tuple[str, int, int], ...]


class PolicyStore:
    """Holds the current Engine for a policy path and reloads it when the files change."""

    def __init__(
        self,
        path: str | Path,
        tools: Mapping[str, ToolInfo],
        *,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_event: Callable[..., Any] | None = None,
    ) -> None:
        self.path = Path(path)
        # on_event(kind, **fields): policy_load / policy_reload records for the audit (box_mcp.events).
        self._on_event = on_event
        self._tools = dict(tools)
        self._interval = poll_interval
        self._clock = clock
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.reloads = 0
        # The first load must succeed: there is no last good policy to fall back to.
        self._signature = self._scan()
        self._engine = Engine(load_policy(self.path), self._tools)
        self._checked_at = clock()
        policy = self._engine.policy
        self._event("policy_load", ok=True, rules=len(policy.rules), version=policy.digest)

    def agent_for_key(self, api_key: str) -> str | None:
        """The agent an inbound API key names under the current policy (HTTP's TokenVerifier asks this)."""
        return self.engine().agent_for_key(api_key)

    def agent_for_person(self, person: Person) -> str | None:
        """The agent a signed-in person connects as under the current policy: the first declared
        `acts_as: person` agent whose people and clients match, else None (refused)."""
        return self.engine().agent_for_person(person)

    def person_agents(self) -> list[str]:
        """The `acts_as: person` agents of the current policy (non-empty: remote sign-in is needed)."""
        return self.engine().person_agents()

    def sign_in_rules(self) -> SignIn:
        """The current policy's `sign_in:` section: which MCP clients may sign in (people.client_allowed)."""
        return self.engine().sign_in_rules()

    def engine(self) -> Engine:
        """The engine to decide this call with (reloaded first if the files changed)."""
        now = self._clock()
        if now - self._checked_at >= self._interval:
            self._maybe_reload(now)
        return self._engine

    def reload(self) -> bool:
        """Check the files now; True when a new policy took effect."""
        return self._maybe_reload(self._clock(), force=True)

    def _maybe_reload(self, now: float, force: bool = False) -> bool:
        if not self._lock.acquire(blocking=False):
            return False  # another caller is already checking; keep serving the current engine
        try:
            self._checked_at = now
            try:
                signature = self._scan()
            except OSError as exc:
                return self._keep(f"cannot list policy files: {exc}")
            except PolicyError as exc:
                return self._keep(str(exc))
            if signature == self._signature and not force:
                return False
            try:
                engine = Engine(load_policy(self.path), self._tools)
            except PolicyError as exc:
                self._signature = signature  # do not re-parse the same broken files every second
                return self._keep(str(exc))
            self._signature = signature
            self._engine = engine
            self.last_error = None
            self.reloads += 1
            self._event(
                "policy_reload", ok=True, rules=len(engine.policy.rules), version=engine.policy.digest
            )
            log.info("policy reloaded from %s (%d rules)", self.path, len(engine.policy.rules))
            return True
        finally:
            self._lock.release()

    def _keep(self, why: str) -> bool:
        if why != self.last_error:
            log.warning("policy not reloaded, keeping the last good one: %s", why)
            self._event(
                "policy_reload",
                ok=False,
                error=why,
                kept_last_good=True,
                rules=len(self._engine.policy.rules),
            )
        self.last_error = why
        return False

    def _event(self, kind: str, **detail: Any) -> None:
        if self._on_event is not None:
            self._on_event(kind, detail={"file": str(self.path), **detail})

    def _scan(self) -> Signature:
        out = []
        for f in policy_files(self.path):
            st = f.stat()
            out.append((str(f), st.st_mtime_ns, st.st_size))
        return tuple(out)
