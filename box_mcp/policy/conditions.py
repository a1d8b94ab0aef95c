"""Argument conditions (`when:` / `unless:`) compiled into small predicates over CallFacts.

A condition on a value the call does not set is "not applicable": it never makes a rule stricter, so
a permit still applies and a forbid or require_approval does not.

A fact the policy looked up in Box and could not read (`Cond.known` is False) fails closed, the other
way round: a forbid or require_approval that depends on it applies, a permit that depends on it does not.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from box_mcp.access import CallFacts, Exposure, extension_of
from box_mcp.policy.model import Conditions


@dataclass(frozen=True, slots=True)
class Cond:
    """One compiled condition: how to read the value from the facts, test it, and say what it allows."""

    field: str
    get: Callable[[CallFacts], Any]
    test: Callable[[Any], bool]
    allows: str  # e.g. "extensions pdf"
    shows: Callable[[Any], str]  # how the call's value reads, e.g. "'x.docx' (extension docx)"
    known: Callable[[Any], bool] = lambda value: True  # False: a looked-up fact that could not be read


def extension_fact(facts: CallFacts) -> str | None:
    """The extension a file_extensions condition tests (access.extension_of's rule)."""
    if facts.extension is not None:
        return facts.extension.lower().lstrip(".")
    if facts.name is None or facts.size_bytes is None:
        return None  # not a file's content (a folder name has no extension to check)
    return extension_of(facts.name)


def domain_of(facts: CallFacts) -> str | None:
    if facts.invitee_email is None:
        return None
    # "evil.example." is the same domain as "evil.example" (a fully qualified name): one spelling.
    return facts.invitee_email.rpartition("@")[2].lower().rstrip(".")


def _domain_ok(allowed: tuple[str, ...]) -> Callable[[Any], bool]:
    exact = frozenset(d for d in allowed if not d.startswith("*."))
    subs = tuple(d[1:] for d in allowed if d.startswith("*."))  # "*.example.com" -> ".example.com"
    return lambda dom: dom in exact or any(dom.endswith(s) for s in subs)


def _glob_ok(patterns: tuple[str, ...]) -> Callable[[Any], bool]:
    lowered = tuple(p.lower() for p in patterns)
    return lambda value: any(fnmatch.fnmatchcase(str(value).lower(), p) for p in lowered)


def _words(values: tuple[str, ...]) -> str:
    return ", ".join(v if v else "(none)" for v in values) if values else "nothing"


def compile_conditions(c: Conditions | None) -> tuple[Cond, ...]:
    if c is None:
        return ()
    out: list[Cond] = []
    if c.max_upload_bytes is not None:
        limit = c.max_upload_bytes
        out.append(
            Cond(
                "max_upload_bytes",
                lambda f: f.size_bytes,
                lambda v: v <= limit,
                f"uploads up to {limit:,} bytes",
                lambda v: f"{v:,} bytes",
            )
        )
    if c.file_extensions is not None:
        exts = frozenset(c.file_extensions)
        out.append(
            Cond(
                "file_extensions",
                extension_fact,
                exts.__contains__,
                f"file extensions {_words(tuple(sorted(exts)))}",
                lambda v: f"extension '{v}'" if v else "no extension",
            )
        )
    if c.name_patterns is not None:
        pats = c.name_patterns
        out.append(
            Cond(
                "name_patterns",
                lambda f: f.name,
                _glob_ok(pats),
                f"names matching {_words(pats)}",
                lambda v: f"name '{v}'",
            )
        )
    if c.shared_link_access is not None:
        levels = frozenset(c.shared_link_access)
        out.append(
            Cond(
                "shared_link_access",
                lambda f: f.shared_link_access,
                levels.__contains__,
                f"shared links with access {_words(c.shared_link_access)}",
                lambda v: f"shared-link access '{v}'",
            )
        )
    if c.collaboration_roles is not None:
        roles = frozenset(c.collaboration_roles)
        out.append(
            Cond(
                "collaboration_roles",
                lambda f: f.collaboration_role and f.collaboration_role.lower(),
                roles.__contains__,
                f"collaboration roles {_words(c.collaboration_roles)}",
                lambda v: f"role '{v}'",
            )
        )
    if c.invitee_domains is not None:
        out.append(
            Cond(
                "invitee_domains",
                domain_of,
                _domain_ok(c.invitee_domains),
                f"invitees from {_words(c.invitee_domains)}",
                lambda v: f"an invitee from {v}",
            )
        )
    if c.metadata_templates is not None:
        out.append(
            Cond(
                "metadata_templates",
                lambda f: f.metadata_template,
                _glob_ok(c.metadata_templates),
                f"metadata templates {_words(c.metadata_templates)}",
                lambda v: f"template '{v}'",
            )
        )
    if c.url_domains is not None:
        out.append(
            Cond(
                "url_domains",
                lambda f: f.url_domain,
                _domain_ok(c.url_domains),
                f"web links to {_words(c.url_domains)}",
                lambda v: f"a web link to {v}",
            )
        )
    if c.externally_shared is not None:
        want = c.externally_shared
        out.append(
            Cond(
                "externally_shared",
                lambda f: f.externally_shared,
                lambda v: v.shared is want,
                "items that are externally shared" if want else "items that are not externally shared",
                exposure_text,
                known=lambda v: v.known,
            )
        )
    if c.first_destructive_in_session is not None:
        first = c.first_destructive_in_session
        out.append(
            Cond(
                "first_destructive_in_session",
                lambda f: f.first_destructive_in_session,
                lambda v: v is first,
                "the first destructive call of a session"
                if first
                else "calls after a session's first destructive one (or calls that destroy nothing)",
                lambda v: (
                    "no destructive call yet in this session"
                    if v
                    else "a destructive call already made in this session (or nothing destroyed)"
                ),
            )
        )
    return tuple(out)


def exposure_text(e: Exposure) -> str:
    """How an externally_shared fact reads, e.g. "folder 123 externally shared (open shared link on
    folder 100 'Contracts')"."""
    what = str(e.item) if e.item is not None else "the item"
    if e.shared is None:
        return f"sharing of {what} unknown (the facts were unavailable: {e.why})"
    if e.shared:
        return f"{what} externally shared ({e.why})" if e.why else f"{what} externally shared"
    return f"{what} not externally shared"


def first_failing(conds: tuple[Cond, ...], facts: CallFacts, absent_holds: bool) -> Cond | None:
    """The first condition that does not hold; an absent value holds iff `absent_holds`."""
    for cond in conds:
        value = cond.get(facts)
        if value is None:
            if absent_holds:
                continue
            return cond
        if not cond.known(value):  # fails closed: the opposite of an absent value
            if absent_holds:
                return cond
            continue
        if not cond.test(value):
            return cond
    return None


def rule_applies(when: tuple[Cond, ...], unless: tuple[Cond, ...], facts: CallFacts, permit: bool) -> bool:
    """Cedar's `when { ... } unless { ... }`, with the not-applicable rule of this module."""
    if when and first_failing(when, facts, absent_holds=permit) is not None:
        return False
    # `unless` exempts when all its conditions hold; an absent value exempts a forbid, not a permit.
    return not (unless and first_failing(unless, facts, absent_holds=not permit) is None)
