"""A browser's part of an OAuth sign-in, over plain HTTP: follow redirects, keep cookies per origin,
fill and submit the forms the pages show (box-mcp's consent page, the emulator's Box sign-in page).

What a person does in the browser, without a browser: the pages are server-rendered forms, so the
flow is the same requests a browser makes (the headless-browser tests of the admin console, issue 13,
drive the same pages in Chromium). Stops at the first redirect that leaves the servers it was given,
which is the answer to the MCP client's redirect URI, and returns it unfetched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urljoin, urlsplit

import httpx2


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)  # hidden and text inputs
    radios: dict[str, list[str]] = field(default_factory=dict)  # name -> values offered
    buttons: dict[str, list[str]] = field(default_factory=dict)  # name -> values offered
    labels: list[str] = field(default_factory=list)  # radio label text, in order


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.text: list[str] = []
        self._label: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
        elif tag == "input" and self.forms:
            kind, name = a.get("type", "text"), a.get("name", "")
            if kind == "radio":
                self.forms[-1].radios.setdefault(name, []).append(a.get("value", ""))
                self._label = []
            elif kind in ("hidden", "text") and name:
                self.forms[-1].fields[name] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.setdefault(a["name"], []).append(a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label" and self._label is not None and self.forms:
            self.forms[-1].labels.append(" ".join("".join(self._label).split()))
            self._label = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._label is not None:
            self._label.append(data)


def forms_of(html: str) -> tuple[list[Form], str]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms, " ".join(" ".join(parser.text).split())


Chooser = Callable[[str, Form, str], "dict[str, str] | None"]  # (page URL, form, page text) -> fields


@dataclass
class Visit:
    """What the walk saw: every page's URL, status and text, and the redirect that left the servers."""

    pages: list[tuple[str, int, str]] = field(default_factory=list)
    final: str | None = None
    stopped: httpx2.Response | None = None  # a page with no form to answer (an error page)


class Browser:
    """Cookies per origin (Secure ones too: the servers are loopback, as browsers treat them)."""

    def __init__(self, http: httpx2.AsyncClient, *, origins: Sequence[str]) -> None:
        self.http = http
        self.origins = tuple(o.rstrip("/") for o in origins)
        self.jar: dict[str, dict[str, str]] = {}

    def _origin(self, url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def _ours(self, url: str) -> bool:
        return self._origin(url) in self.origins

    async def request(self, method: str, url: str, data: dict[str, str] | None = None) -> httpx2.Response:
        origin = self._origin(url)
        cookies = self.jar.get(origin, {})
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
        if data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = await self.http.request(method, url, data=data, headers=headers)
        else:
            response = await self.http.request(method, url, headers=headers)
        for raw in response.headers.get_list("set-cookie"):
            parsed: SimpleCookie = SimpleCookie()
            parsed.load(raw)
            for name, morsel in parsed.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.jar.setdefault(origin, {}).pop(name, None)
                else:
                    self.jar.setdefault(origin, {})[name] = morsel.value
        return response

    async def walk(self, url: str, choose: Chooser, *, max_steps: int = 12) -> Visit:
        """From `url`, follow redirects and answer forms until a redirect leaves our servers."""
        visit = Visit()
        method, data = "GET", None
        for _ in range(max_steps):
            response = await self.request(method, url, data)
            if response.status_code in (301, 302, 303, 307, 308):
                target = urljoin(url, response.headers["location"])
                if not self._ours(target):
                    visit.final = target
                    return visit
                url, method, data = target, "GET", None
                continue
            text = response.text
            forms, words = forms_of(text)
            visit.pages.append((url, response.status_code, words))
            answer = choose(url, forms[0], words) if forms and response.status_code == 200 else None
            if answer is None:
                visit.stopped = response
                return visit
            form = forms[0]
            url = urljoin(url, form.action)
            method, data = form.method.upper(), answer
        raise AssertionError(f"the sign-in did not finish in {max_steps} steps: {visit.pages}")


def approve_all(login: str | None = None) -> Chooser:
    """Approve box-mcp's consent and the Box sign-in, signing in to Box as the user whose label names
    `login` (the first user when None)."""

    def choose(url: str, form: Form, text: str) -> dict[str, str] | None:
        fields = dict(form.fields)
        for name, values in form.radios.items():
            pick = values[0]
            if login is not None:
                matches = [v for v, label in zip(values, form.labels, strict=False) if login in label]
                assert matches, f"no Box user {login!r} on the sign-in page: {form.labels}"
                pick = matches[0]
            fields[name] = pick
        if "decision" in form.buttons:
            fields["decision"] = "approve"
        return fields

    return choose
