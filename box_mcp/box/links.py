"""Box's `boxapi` header, which names a shared link (and its password) on a request made through it."""

from __future__ import annotations

from urllib.parse import quote


def boxapi_header(url: str, password: str | None) -> str:
    """`shared_link=<url>[&shared_link_password=<pw>]`: the link as Box made it (callers refuse one holding
    `&` or spaces), the password form-encoded so an `&` or `=` in it stays inside it. The value holds a
    secret: it goes into the request's headers only, never into a log line or an error."""
    value = "shared_link=" + url
    return value if password is None else value + "&shared_link_password=" + quote(password, safe="")
