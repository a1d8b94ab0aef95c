"""Policy test fixtures: the reference tool table and a way to build an engine from YAML text."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.policy.engine import Decision, DecisionRequest, Engine, ToolInfo
from box_mcp.policy.model import policy_from_text
from box_mcp.policy.reference_tools import REFERENCE_TOOLS


@pytest.fixture
def tools() -> dict[str, ToolInfo]:
    return dict(REFERENCE_TOOLS)


@pytest.fixture
def make_engine(tools: dict[str, ToolInfo]) -> Callable[[str], Engine]:
    def build(text: str) -> Engine:
        return Engine(policy_from_text(text), tools)

    return build


def _use(kind: str, id_: str, access: str = "read", role: str = "item") -> ResourceUse:
    return ResourceUse(ItemRef(kind, id_), Access(access), role)


def _ask(
    engine: Engine,
    agent: str,
    tool: str,
    *uses: ResourceUse,
    ancestry: dict[str, tuple[str, ...]] | None = None,
    **facts: object,
) -> Decision:
    """Decide one call; ancestry keys are 'file:1' / 'folder:2'."""
    anc = {}
    for key, path in (ancestry or {}).items():
        kind, _, id_ = key.partition(":")
        anc[ItemRef(kind, id_)] = tuple(path)
    return engine.decide(DecisionRequest(agent, tool, tuple(uses), CallFacts(**facts), anc))  # type: ignore[arg-type]


@pytest.fixture
def use() -> Callable[..., ResourceUse]:
    return _use


@pytest.fixture
def ask() -> Callable[..., Decision]:
    return _ask
