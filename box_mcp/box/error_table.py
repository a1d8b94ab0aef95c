"""Box's error table (code, message, fix), parsed once from Box's docs into `error_table.json`.

Regenerate with `python -m box_mcp.box.error_table SEED_FILE`; a test checks the committed JSON matches
the seed whenever the seed file is present.
"""

from __future__ import annotations

import json
import re
import sys
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TypedDict


class ErrorEntry(TypedDict):
    status: int
    code: str
    message: str
    fix: str


_STATUS_LINE = re.compile(r"^(\d{3}) [A-Za-z][A-Za-z ]+$")
# Sentences whose link text was lost when Box's page was flattened ("See here ...", "Follow the steps in .").
_DANGLING = re.compile(
    r"(?:\s*(?:See here|More information is available here|There are to be aware of)[^.]*\.)"
    r"|(?:\s*Follow the steps in \.)|(?:\s*See \.)|(?:;\s*see \.)"
)


def _tidy(text: str, message: str = "") -> str:
    text = _DANGLING.sub("", text).strip() or message.strip()
    text = re.sub(r"\s+", " ", text)
    if text and not text.endswith((".", "!", "?")):
        text += "."
    return text


def parse_error_table(text: str) -> list[ErrorEntry]:
    """Parse the flattened "Error<code> / Message<text> / Solution<text>" table of Box's error page."""
    entries: list[ErrorEntry] = []
    status = 0
    current: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        m = _STATUS_LINE.match(line)
        if m:
            status = int(m.group(1))
            continue
        if not status:
            continue
        if line.startswith("Error") and not line.startswith("Error "):
            current = {"code": line[len("Error") :].strip()}
        elif line.startswith("Message") and "code" in current:
            current["message"] = line[len("Message") :].strip()
        elif line.startswith("Solution") and "code" in current:
            entries.append(
                ErrorEntry(
                    status=status,
                    code=current["code"],
                    message=current.get("message", ""),
                    fix=_tidy(line[len("Solution") :], current.get("message", "")),
                )
            )
            current = {}
    return entries


@cache
def load_error_table() -> tuple[ErrorEntry, ...]:
    data = resources.files("box_mcp.box").joinpath("error_table.json").read_text(encoding="utf-8")
    return tuple(json.loads(data))


# The code Box uses for a status when a body names none (a proxy's HTML page, an empty 502).
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "access_denied_insufficient_permissions",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "session_expired",
    411: "length_required",
    412: "precondition_failed",
    413: "request_entity_too_large",
    415: "unsupported_media_type",
    429: "rate_limit_exceeded",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "unavailable",
}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def lookup(status: int, code: str, message: str = "") -> ErrorEntry | None:
    """The table entry for a Box error; several entries share a code, so the closest message wins."""
    table = load_error_table()
    same_code = [e for e in table if e["code"] == code] or [
        e for e in table if e["code"] == STATUS_CODES.get(status) and e["status"] == status
    ]
    if not same_code:
        # 504 and other unlisted 5xx take the 500 advice: retry with back-off.
        if status >= 500:
            return lookup(500, "internal_server_error")
        return None
    same_status = [e for e in same_code if e["status"] == status] or same_code
    if len(same_status) == 1 or not message:
        return same_status[0]
    words = _words(message)
    return max(same_status, key=lambda e: len(words & _words(e["message"])))


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m box_mcp.box.error_table SEED_FILE", file=sys.stderr)
        return 2
    entries = parse_error_table(Path(argv[0]).read_text(encoding="utf-8"))
    out = Path(__file__).with_name("error_table.json")
    out.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(entries)} entries to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
