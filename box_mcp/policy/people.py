"""People in the policy: who a rule or a person agent applies to (`people:`, `clients:`), compiled into
sets so a check is a few set lookups, and the `sign_in:` section's test of an MCP client.

Within one selector the lists are OR-ed (any listed user, login, domain or group); `people` and `clients`
are AND-ed. A domain `example.com` matches logins at exactly that domain; `*.example.com` matches logins
at any subdomain of it (not at example.com itself: list both for both), as `invitee_domains` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from box_mcp.identity import Person
    from box_mcp.policy.model import ClientSelector, PeopleSelector, SignIn


def login_domain(login: str) -> str:
    return login.rpartition("@")[2].lower().rstrip(".")


@dataclass(frozen=True, slots=True)
class PeopleMatch:
    users: frozenset[str]
    logins: frozenset[str]
    domains: frozenset[str]
    subdomains: tuple[str, ...]  # ".example.com" for "*.example.com"
    groups: frozenset[str]

    @classmethod
    def of(cls, sel: PeopleSelector) -> PeopleMatch:
        domains = sel.domains or ()
        return cls(
            users=frozenset(sel.users or ()),
            logins=frozenset(sel.logins or ()),
            domains=frozenset(d for d in domains if not d.startswith("*.")),
            subdomains=tuple(d[1:] for d in domains if d.startswith("*.")),
            groups=frozenset(sel.groups or ()),
        )

    def matches(self, person: Person) -> bool:
        if person.box_user_id in self.users:
            return True
        if person.login:
            login = person.login.lower()
            if login in self.logins:
                return True
            domain = login_domain(login)
            if domain in self.domains or any(domain.endswith(s) for s in self.subdomains):
                return True
        return not self.groups.isdisjoint(person.groups)


@dataclass(frozen=True, slots=True)
class ClientMatch:
    ids: frozenset[str]
    redirect_hosts: frozenset[str]

    @classmethod
    def of(cls, sel: ClientSelector) -> ClientMatch:
        return cls(frozenset(sel.ids or ()), frozenset(sel.redirect_hosts or ()))

    def matches(self, person: Person) -> bool:
        if person.client_id in self.ids:
            return True
        host = person.redirect_host
        return host is not None and host.lower().rstrip(".") in self.redirect_hosts


@dataclass(frozen=True, slots=True)
class Who:
    """A compiled `people:` and `clients:` pair (either may be None: anyone, any client). It never
    matches a call without a person (an API-key or stdio agent)."""

    people: PeopleMatch | None
    clients: ClientMatch | None

    @classmethod
    def of(cls, people: PeopleSelector | None, clients: ClientSelector | None) -> Who | None:
        """None when neither is given (the rule or agent is not about people)."""
        if people is None and clients is None:
            return None
        return cls(
            PeopleMatch.of(people) if people is not None else None,
            ClientMatch.of(clients) if clients is not None else None,
        )

    def matches(self, person: Person | None) -> bool:
        if person is None:
            return False
        if self.people is not None and not self.people.matches(person):
            return False
        return self.clients is None or self.clients.matches(person)


def matches_agent(who: Who | None, person: Person) -> bool:
    """An `acts_as: person` agent's own selectors: none means anyone who signs in to Box."""
    return who is None or who.matches(person)


def redirect_host(uri: str) -> str | None:
    """The host of a redirect URI, lowercased (None when it has none, e.g. a custom scheme's path)."""
    try:
        host = urlsplit(uri).hostname
    except ValueError:
        return None
    return host.lower().rstrip(".") if host else None


def client_allowed(sign_in: SignIn, client_id: str, redirect_uris: Sequence[str]) -> str | None:
    """Whether the policy's `sign_in:` section lets this MCP client sign in: None when it does, else the
    reason, naming the setting to change. `redirect_uris` are every redirect URI the client declares."""
    if sign_in.clients is not None and client_id not in sign_in.clients:
        return (
            f"the MCP client {client_id!r} is not one the policy lets sign in; add its client id to "
            "sign_in.clients in the policy"
        )
    if sign_in.redirect_hosts is not None:
        if not redirect_uris:
            return "the MCP client declares no redirect URI; sign_in.redirect_hosts needs one"
        allowed = frozenset(sign_in.redirect_hosts)
        for uri in redirect_uris:
            host = redirect_host(uri)
            if host is None or host not in allowed:
                shown = host or uri[:100]
                return (
                    f"the MCP client redirects to {shown!r}, a host the policy does not let sign in; add it "
                    "to sign_in.redirect_hosts in the policy"
                )
    return None


def registration_allowed(sign_in: SignIn) -> str | None:
    """Whether RFC 7591 dynamic client registration is open: None when it is, else why not."""
    if sign_in.registration:
        return None
    return (
        "dynamic client registration is off (sign_in.registration: false in the policy); connect with a "
        "client that publishes its metadata document (a client id that is an https URL), or one listed "
        "in sign_in.clients"
    )
