"""Which folders a policy watches and as whom: each folder a permit confines an agent to (its `within:`,
the agent's grant roots), owned by the Box identity of the first agent (in policy order) granted it.

A webhook (and an event stream) belongs to one Box user, so the identity that owns a folder grant is the
one that can see every change in it. `acts_as: person` agents have no fixed identity (each signed-in
person is one) and the root folder cannot carry a webhook: both are left out, with a note saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from box_mcp.broker.broker import IdentitySpec
from box_mcp.policy.model import Policy


@dataclass(frozen=True, slots=True)
class FolderGrant:
    folder_id: str
    agent: str
    identity: IdentitySpec


def identity_name(identity: IdentitySpec) -> str:
    """A stable, secret-free name of an identity: its saved stream position's key, and what is printed."""
    if identity.kind == "as_user":
        return f"as_user:{identity.as_user}"
    if identity.kind == "user_grant":
        return f"user_grant:{identity.label or 'default'}"
    return identity.kind


def folder_grants(
    policy: Policy, identity_of: Callable[[str], IdentitySpec]
) -> tuple[list[FolderGrant], list[str]]:
    """(the watched folders, each once, with its owner), (notes on what was left out and why)."""
    grants: dict[str, FolderGrant] = {}
    notes: list[str] = []
    people: set[str] = set()
    for rule in policy.rules:
        if rule.effect != "permit" or not rule.within:
            continue
        agents = (
            sorted(policy.agents) if "*" in rule.agents else [a for a in rule.agents if a in policy.agents]
        )
        for agent in agents:
            if policy.agents[agent].for_people:
                people.add(agent)
                continue
            for folder in rule.within:
                if folder == "0":
                    note = f"rule {rule.id}: the root folder (0) cannot carry a webhook; name its subfolders"
                    if note not in notes:
                        notes.append(note)
                    continue
                grants.setdefault(folder, FolderGrant(folder, agent, identity_of(agent)))
    notes += [
        f"agent {agent}: acts as each signed-in person, so no one identity can watch its folders"
        for agent in sorted(people)
    ]
    return list(grants.values()), notes


def watching_identities(
    policy: Policy | None, identity_of: Callable[[str], IdentitySpec], fallback: IdentitySpec | None
) -> list[IdentitySpec]:
    """The identities whose event streams the events follower reads: every fixed identity of the policy's
    agents (each once), or `fallback` (the ungoverned deployment's one identity)."""
    if policy is None:
        return [fallback] if fallback is not None else []
    found: dict[str, IdentitySpec] = {}
    for agent, entry in policy.agents.items():
        if entry.for_people:
            continue
        identity = identity_of(agent)
        found.setdefault(identity_name(identity), identity)
    return list(found.values())
