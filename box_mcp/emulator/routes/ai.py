"""Box AI, as an honest stand-in: `/ai/ask`, `/ai/text_gen`, `/ai/extract`, `/ai/extract_structured` and
`/ai_agent_default`, with Box's request validation, errors, permissions and response shapes.

There is no language model here. Answers are extractive and deterministic: the items' text is split into
passages, the passages are ranked by how many of the prompt's terms they share, and the answer is the best
passages as they stand, with citations to them. Structured extraction reads each field from the text by its
name ("Counterparty: Acme", "value 120000 USD"), its type (the first number, the first date) and its options
(the enum options that occur). Every response says so in `ai_agent_info`. What Box AI would infer,
summarise, translate or reason out is not attempted: the point is the wire contract, so box-mcp's tools and
policy can be tested end to end.

Permissions are the other routes': every file named is loaded with `permissions.check` ("preview": Box AI
reads what a preview shows), so an item the caller cannot see is 404, a downscoped token bound to another
item is 404, and a token without Box's `ai.readwrite` ("Manage AI") scope is 403 insufficient_scope. Box's
per-user AI rate limit is the middleware's "ai" class (faults.BOX_LIMITS).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .. import items, permissions
from ..common import box_json, caller, json_body, load_item, store
from ..errors import BoxError, not_found
from ..store import iso, now
from . import hubs
from .metadata_templates import find_template, resolve_scope
from .search import file_text

MAX_ITEMS = 25  # AiAsk, AiExtract, AiExtractStructured: maxItems 25
MAX_HUB_FILES = 1000  # files one hub question reads (the stand-in's bound; Box documents none)
MAX_PROMPT = 10000  # "The prompt's length is limited to 10000 characters."
MAX_TEXT = 2 * 1024 * 1024  # "If the text file size exceeds 2MB, the first 2MB ... will be processed."
MAX_FIELDS = 500
MAX_PASSAGE = 600  # characters of one passage (a longer sentence is cut at a word)
TOP_PASSAGES = 3
AI_SCOPE = "ai.readwrite"
ENHANCED_AGENT = "enhanced_extract_agent"

MODEL = "box-mcp-emulator-extractive"
PROVIDER = "box-mcp emulator"
PROCESSOR = "box-mcp emulator: extractive term overlap, no language model"
HONEST = (
    "Not a language model: the box-mcp emulator answers with the passages of the items that share the "
    "most terms with the prompt, and reads fields by name, type and option from the text."
)

STOPWORDS = frozenset(
    "a an and are as at be by can could did do does for from had has have how i in is it its me my no "
    "not of on or our please say says should tell than that the their them then there these this those to "
    "us was we were what when where which who whom whose why will with would you your about any all "
    "document file files give list show find".split()
)
WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
MONTHS = {
    m: i + 1
    for i, m in enumerate(
        "january february march april may june july august september october november december".split()
    )
}
NAMED_DATE = re.compile(
    r"\b(?:(\d{1,2})\s+("
    + "|".join(MONTHS)
    + r")\s+(\d{4})|("
    + "|".join(MONTHS)
    + r")\s+(\d{1,2}),?\s+(\d{4}))\b",
    re.IGNORECASE,
)


# --- request validation ---------------------------------------------------------------------------------


def _ai_caller(request: Request) -> None:
    """Box AI needs the app's (and a downscoped token's) Manage AI scope."""
    if AI_SCOPE not in caller(request).scopes:
        raise BoxError(
            403,
            "insufficient_scope",
            "The request requires higher privileges than provided by the access token: Box AI needs the "
            "ai.readwrite (Manage AI) scope.",
        )


def _prompt(body: dict[str, Any]) -> str:
    value = body.get("prompt")
    if not isinstance(value, str) or not value.strip():
        raise BoxError(400, "bad_request", "'prompt' is required: a non-empty string")
    if len(value) > MAX_PROMPT:
        raise BoxError(400, "bad_request", f"'prompt' must be at most {MAX_PROMPT} characters")
    return value


@dataclass(frozen=True)
class Source:
    """One item's text as Box AI would read it: the file's text representation, or the given content."""

    id: str
    name: str
    text: str


def _item_list(body: dict[str, Any], types: tuple[str, ...], max_items: int) -> list[dict[str, Any]]:
    raw = body.get("items")
    if not isinstance(raw, list) or not raw:
        raise BoxError(400, "bad_request", "'items' is required: a list of at least one item")
    if len(raw) > max_items:
        raise BoxError(
            400,
            "bad_request",
            f"'items' holds {len(raw)} items; Box AI takes at most {max_items} in one request",
        )
    seen: set[tuple[str, str]] = set()
    out = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, dict):
            raise BoxError(400, "bad_request", f"'items[{index}]' must be an object with 'type' and 'id'")
        kind, ident = entry.get("type"), entry.get("id")
        if kind not in types:
            raise BoxError(400, "bad_request", f"'items[{index}].type' must be one of: {', '.join(types)}")
        if not isinstance(ident, str) or not ident.isdigit():
            raise BoxError(400, "bad_request", f"'items[{index}].id' must be a Box id (digits, as a string)")
        content = entry.get("content")
        if content is not None and not isinstance(content, str):
            raise BoxError(400, "bad_request", f"'items[{index}].content' must be a string")
        if (kind, ident) in seen:
            raise BoxError(400, "bad_request", f"'items' names {kind} {ident} twice; items must be unique")
        seen.add((kind, ident))
        out.append(entry)
    return out


def _sources(request: Request, entries: list[dict[str, Any]]) -> list[Source]:
    """Each file loaded through the permission check (404 unseen, 403 scope), in the order given."""
    st = store(request)
    out = []
    for entry in entries:
        row = load_item(request, "file", str(entry["id"]), "preview")
        content = entry.get("content")
        text = content if isinstance(content, str) else file_text(st, row)
        out.append(Source(id=row["id"], name=row["name"], text=text[:MAX_TEXT]))
    return out


def _dialogue(body: dict[str, Any]) -> None:
    """Checked for shape only: the stand-in answers each prompt on its own."""
    history = body.get("dialogue_history")
    if history is None:
        return
    if not isinstance(history, list):
        raise BoxError(400, "bad_request", "'dialogue_history' must be a list of {prompt, answer} objects")
    for index, turn in enumerate(history):
        if not isinstance(turn, dict) or not all(
            isinstance(turn.get(k), str | None) for k in ("prompt", "answer", "created_at")
        ):
            raise BoxError(400, "bad_request", f"'dialogue_history[{index}]' must have string prompt/answer")


def _agent(body: dict[str, Any], override_type: str, *, enhanced_ok: bool = False) -> str | None:
    """Validate `ai_agent`: a reference ({type: ai_agent_id, id}) or an override of this mode's agent.
    Returns the referenced agent id, if any. Overrides are accepted and change nothing here."""
    agent = body.get("ai_agent")
    if agent is None:
        return None
    if not isinstance(agent, dict):
        raise BoxError(400, "bad_request", "'ai_agent' must be an object with a 'type'")
    kind = agent.get("type")
    if kind == "ai_agent_id":
        ident = agent.get("id")
        if not isinstance(ident, str) or not ident:
            raise BoxError(400, "bad_request", "'ai_agent.id' is required with type ai_agent_id")
        if ident == ENHANCED_AGENT and enhanced_ok:
            return ident
        raise not_found(
            f"AI agent '{ident}' not found (the emulator knows only '{ENHANCED_AGENT}', for structured "
            "extraction)"
        )
    if kind != override_type:
        raise BoxError(400, "bad_request", f"'ai_agent.type' must be ai_agent_id or {override_type}")
    return None


def _agent_info(agent_id: str | None = None) -> dict[str, Any]:
    processor = PROCESSOR if agent_id is None else f"{PROCESSOR} ({agent_id} requested: the same stand-in)"
    return {
        "models": [{"name": MODEL, "provider": PROVIDER, "supported_purpose": "extractive"}],
        "processor": processor,
    }


# --- passages and ranking -------------------------------------------------------------------------------


def terms(text: str) -> list[str]:
    """The content words of a text, lower-case, without stop words (order kept, repeats dropped)."""
    words = [w.lower().strip("'_-") for w in WORD.findall(text)]
    return list(dict.fromkeys(w for w in words if w and w not in STOPWORDS))


def _matches(term: str, word: str) -> bool:
    if term == word:
        return True
    shorter, longer = sorted((term, word), key=len)
    return len(shorter) >= 4 and longer.startswith(shorter)


def passages(text: str) -> list[str]:
    """Lines, then sentences, of a text; markup marks dropped; long ones cut at a word."""
    out = []
    for line in text.splitlines():
        line = line.strip().lstrip("#>*- ").strip()
        for sentence in SENTENCE_END.split(line):
            sentence = sentence.strip()
            if not sentence:
                continue
            if len(sentence) > MAX_PASSAGE:
                sentence = sentence[:MAX_PASSAGE].rsplit(" ", 1)[0] + " …"
            out.append(sentence)
    return out


@dataclass(frozen=True)
class Hit:
    score: int
    source: Source
    order: int
    passage: str


def rank(prompt: str, sources: list[Source]) -> list[Hit]:
    """Passages sharing at least one prompt term, best first (ties: the earlier item, then position)."""
    wanted = terms(prompt)
    hits = []
    order = 0
    for source in sources:
        for passage in passages(source.text):
            words = terms(passage)
            score = sum(1 for t in wanted if any(_matches(t, w) for w in words))
            if score:
                hits.append(Hit(score, source, order, passage))
            order += 1
    hits.sort(key=lambda h: (-h.score, h.order))
    return hits


def _answer(prompt: str, sources: list[Source]) -> tuple[str, list[Hit]]:
    hits = rank(prompt, sources)
    if not hits:
        return (
            "No passage of the given items shares a term with the prompt, so the emulator's extractive "
            "stand-in has nothing to quote.",
            [],
        )
    best = [h for h in hits if h.score * 2 >= hits[0].score][:TOP_PASSAGES]
    best.sort(key=lambda h: h.order)  # quoted in reading order
    return "\n".join(h.passage for h in best), best


def _citation(hit: Hit) -> dict[str, Any]:
    return {"type": "file", "id": hit.source.id, "name": hit.source.name, "content": hit.passage}


def _stamp() -> str:
    return iso(now()) or datetime.now(UTC).isoformat(timespec="seconds")


# --- routes ---------------------------------------------------------------------------------------------


async def ask(request: Request) -> Response:
    _ai_caller(request)
    body = await json_body(request)
    mode = body.get("mode")
    if mode not in ("single_item_qa", "multiple_item_qa"):
        raise BoxError(400, "bad_request", "'mode' must be one of: single_item_qa, multiple_item_qa")
    prompt = _prompt(body)
    entries = _item_list(body, ("file", "hubs"), MAX_ITEMS)
    if mode == "single_item_qa" and len(entries) != 1:
        raise BoxError(400, "bad_request", "mode single_item_qa takes exactly one item")
    _dialogue(body)
    _agent(body, "ai_agent_ask")
    citations = body.get("include_citations", False)
    if not isinstance(citations, bool):
        raise BoxError(400, "bad_request", "'include_citations' must be true or false")
    if any(e["type"] == "hubs" for e in entries):
        if len(entries) != 1:
            raise BoxError(400, "bad_request", "a 'hubs' item must be the only item in the request")
        sources = _hub_sources(request, str(entries[0]["id"]))
    else:
        sources = _sources(request, entries)
    answer, used = _answer(prompt, sources)
    out: dict[str, Any] = {
        "answer": answer,
        "created_at": _stamp(),
        "completion_reason": "done",
        "ai_agent_info": _agent_info(),
    }
    if citations:
        out["citations"] = [_citation(h) for h in used]
    return box_json(out)


def _hub_sources(request: Request, hub_id: str) -> list[Source]:
    """A hub's files, as the caller may read them: the hub must be one the caller has a role on (404
    otherwise, as every hub route answers) with Box AI enabled (403), and its content is the files it holds
    and the files inside the folders it holds, each kept only if the caller may preview it itself (a hub
    holds references: it grants no access to them). Web links have no text and are left out."""
    st, who = store(request), caller(request)
    hub = hubs.load_hub(request, hub_id, "read")
    if not hub["is_ai_enabled"]:
        raise BoxError(
            403,
            "access_denied_insufficient_permissions",
            "Box AI is turned off for this hub (is_ai_enabled is false); a hub co-owner can turn it on.",
        )
    rows: list[Any] = []
    for entry in st.fetch_all(
        "SELECT item_type, item_id FROM hub_items WHERE hub_id = ? ORDER BY position", (hub["id"],)
    ):
        row = items.get(st, entry["item_id"], entry["item_type"])
        if row is None or row["status"] != "active":
            continue
        if row["type"] == "file":
            rows.append(row)
        elif row["type"] == "folder" and permissions.can(st, who, row, "read"):
            rows.extend(r for r in items.descendants(st, row["id"]) if r["type"] == "file")
    out: list[Source] = []
    seen: set[str] = set()
    for row in rows:
        if row["id"] in seen or row["status"] != "active" or not permissions.can(st, who, row, "preview"):
            continue
        seen.add(row["id"])
        out.append(Source(id=row["id"], name=row["name"], text=file_text(st, row)[:MAX_TEXT]))
        if len(out) >= MAX_HUB_FILES:
            break
    return out


async def text_gen(request: Request) -> Response:
    _ai_caller(request)
    body = await json_body(request)
    prompt = _prompt(body)
    entries = _item_list(body, ("file",), 1)
    _dialogue(body)
    _agent(body, "ai_agent_text_gen")
    answer, _ = _answer(prompt, _sources(request, entries))
    return box_json(
        {
            "answer": answer,
            "created_at": _stamp(),
            "completion_reason": "done",
            "ai_agent_info": _agent_info(),
        }
    )


async def extract(request: Request) -> Response:
    """Freeform: the prompt's terms name the fields; each is read from the text by that name."""
    _ai_caller(request)
    body = await json_body(request)
    prompt = _prompt(body)
    entries = _item_list(body, ("file",), MAX_ITEMS)
    _agent(body, "ai_agent_extract")
    sources = _sources(request, entries)
    found: dict[str, Any] = {}
    for key in _freeform_keys(prompt):
        value = _read_field({"key": key, "type": "string"}, sources)
        if value is not None:
            found[key] = value.value
    return box_json(
        {
            "answer": json.dumps(found, ensure_ascii=False),
            "created_at": _stamp(),
            "completion_reason": "done",
            "ai_agent_info": _agent_info(),
        }
    )


def _freeform_keys(prompt: str) -> list[str]:
    """Field names in a freeform prompt: the `key`s of a JSON fields list if it is one, else its words."""
    keys = re.findall(r'"key"\s*:\s*"([^"]+)"', prompt.replace('\\"', '"'))
    return list(dict.fromkeys(keys)) if keys else terms(prompt)


async def extract_structured(request: Request) -> Response:
    _ai_caller(request)
    body = await json_body(request)
    entries = _item_list(body, ("file",), MAX_ITEMS)
    has_template, has_fields = body.get("metadata_template") is not None, body.get("fields") is not None
    if has_template == has_fields:
        raise BoxError(400, "bad_request", "Provide either 'metadata_template' or 'fields', not both")
    agent_id = _agent(body, "ai_agent_extract_structured", enhanced_ok=True)
    flags = {k: body.get(k, False) for k in ("include_confidence_score", "include_reference")}
    if not all(isinstance(v, bool) for v in flags.values()):
        raise BoxError(400, "bad_request", "include_confidence_score and include_reference are true or false")
    fields = _template_fields(request, body["metadata_template"]) if has_template else _fields(body["fields"])
    sources = _sources(request, entries)
    answer: dict[str, Any] = {}
    confidence: dict[str, Any] = {}
    reference: dict[str, Any] = {}
    for field in fields:
        read = _read_field(field, sources)
        answer[field["key"]] = None if read is None else read.value
        if read is not None:
            level, score = ("HIGH", 0.9) if read.by_label else ("LOW", 0.4)
            confidence[field["key"]] = {"level": level, "score": score}
            reference[field["key"]] = [_citation(Hit(1, read.source, 0, read.passage))]
    out: dict[str, Any] = {
        "answer": answer,
        "created_at": _stamp(),
        "completion_reason": "done",
        "ai_agent_info": _agent_info(agent_id),
    }
    if flags["include_confidence_score"]:
        out["confidence_score"] = confidence
    if flags["include_reference"]:
        out["reference"] = reference
    return box_json(out)


def _fields(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise BoxError(400, "bad_request", "'fields' must be a non-empty list of {key, type, ...} objects")
    if len(raw) > MAX_FIELDS:
        raise BoxError(400, "bad_request", f"'fields' takes at most {MAX_FIELDS} fields")
    seen: set[str] = set()
    out = []
    for index, field in enumerate(raw):
        if not isinstance(field, dict) or not isinstance(field.get("key"), str) or not field["key"]:
            raise BoxError(400, "bad_request", f"'fields[{index}].key' is required: a non-empty string")
        if field["key"] in seen:
            raise BoxError(400, "bad_request", f"'fields' has the key '{field['key']}' twice")
        seen.add(field["key"])
        for name in ("type", "displayName", "description", "prompt"):
            if field.get(name) is not None and not isinstance(field[name], str):
                raise BoxError(400, "bad_request", f"'fields[{index}].{name}' must be a string")
        options = field.get("options")
        if options is not None and (
            not isinstance(options, list)
            or not all(isinstance(o, dict) and isinstance(o.get("key"), str) for o in options)
        ):
            raise BoxError(400, "bad_request", f"'fields[{index}].options' must be a list of {{key}} objects")
        out.append(field)
    return out


def _template_fields(request: Request, ref: Any) -> list[dict[str, Any]]:
    if not isinstance(ref, dict) or not isinstance(ref.get("template_key"), str):
        raise BoxError(400, "bad_request", "'metadata_template' needs 'template_key' (and 'scope')")
    if ref.get("type", "metadata_template") != "metadata_template":
        raise BoxError(400, "bad_request", "'metadata_template.type' must be metadata_template")
    scope = ref.get("scope", "enterprise")
    if not isinstance(scope, str) or len(scope) > 40:
        raise BoxError(400, "bad_request", "'metadata_template.scope' must be global or enterprise[_<id>]")
    row = find_template(store(request), resolve_scope(request, scope), ref["template_key"])
    if row is None:
        raise not_found("Metadata template not found")
    fields = json.loads(row["fields"])
    return [f for f in fields if isinstance(f, dict) and f.get("key") and not f.get("hidden")]


# --- reading one field from the text --------------------------------------------------------------------


@dataclass(frozen=True)
class Read:
    value: Any
    source: Source
    passage: str
    by_label: bool  # found after the field's own name, not only somewhere in the text


def _labels(field: dict[str, Any]) -> list[str]:
    """The names a field goes by in a text: its display name and its key split into words."""
    key = str(field["key"])
    split = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ").replace("-", " ").strip()
    names = [str(field.get("displayName") or ""), split, key]
    return list(dict.fromkeys(n for n in names if n.strip()))


def _read_field(field: dict[str, Any], sources: list[Source]) -> Read | None:
    kind = str(field.get("type") or "string")
    options = [str(o["key"]) for o in field.get("options") or () if isinstance(o, dict) and "key" in o]
    for by_label in (True, False):
        for source in sources:
            for passage in passages(source.text):
                if by_label:
                    tail = _after_label(passage, _labels(field))
                    if tail is None:
                        continue
                else:
                    if kind not in ("enum", "multiSelect"):
                        continue  # a bare number or date with no name is not this field's value
                    tail = passage
                value = _typed(kind, tail, options)
                if value is not None:
                    return Read(value, source, passage, by_label)
    return None


def _after_label(passage: str, labels: list[str]) -> str | None:
    for label in labels:
        words = r"[\s_-]+".join(re.escape(w) for w in label.split())
        found = re.search(
            rf"(?<![A-Za-z0-9]){words}(?![A-Za-z0-9])\s*(?::|=|-|\bis\b|\bof\b)?\s*(.+)",
            passage,
            re.IGNORECASE,
        )
        if found:
            return found.group(1)
    return None


def _typed(kind: str, tail: str, options: list[str]) -> Any:
    if kind == "float" or kind == "number" or kind == "integer":
        number = NUMBER.search(tail)
        if number is None:
            return None
        amount = float(number.group(0).replace(",", ""))
        return int(amount) if kind == "integer" else amount
    if kind == "date":
        return _date(tail)
    if kind == "enum":
        present = _options_in(tail, options)
        return present[0] if present else None
    if kind == "multiSelect":
        present = _options_in(tail, options)
        return present or None
    text = re.split(r"[,;]|\.(?:\s|$)", tail, maxsplit=1)[0].strip().rstrip(".")
    return text or None


def _options_in(text: str, options: list[str]) -> list[str]:
    """The options that occur in the text, in the order they occur there."""
    found = []
    for option in options:
        m = re.search(rf"(?<![A-Za-z0-9]){re.escape(option)}(?![A-Za-z0-9])", text, re.IGNORECASE)
        if m:
            found.append((m.start(), option))
    return [option for _, option in sorted(found)]


def _date(text: str) -> str | None:
    """The first real date in the text (ISO or named month) as Box writes metadata dates (midnight UTC)."""
    candidates = [(m.start(), int(m[1]), int(m[2]), int(m[3])) for m in ISO_DATE.finditer(text)]
    for n in NAMED_DATE.finditer(text):
        if n[1]:
            candidates.append((n.start(), int(n[3]), MONTHS[n[2].lower()], int(n[1])))
        else:
            candidates.append((n.start(), int(n[6]), MONTHS[n[4].lower()], int(n[5])))
    for _, year, month, day in sorted(candidates):
        try:
            return datetime(year, month, day, tzinfo=UTC).strftime("%Y-%m-%dT00:00:00.000Z")
        except ValueError:
            continue  # 2027-02-31 names no day
    return None


# --- the default agent ----------------------------------------------------------------------------------


def _tool(*, long: bool = False) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "model": MODEL,
        "num_tokens_for_completion": 8400,
        "system_message": HONEST,
        "prompt_template": "{user_question}\n{content}",
    }
    if long:
        tool["embeddings"] = {"model": MODEL, "strategy": {"id": "basic", "num_tokens_per_chunk": 64}}
    return tool


async def agent_default(request: Request) -> Response:
    _ai_caller(request)
    mode = request.query_params.get("mode")
    if mode == "ask":
        agent = {
            "type": "ai_agent_ask",
            "basic_text": _tool(),
            "long_text": _tool(long=True),
            "basic_text_multi": _tool(),
            "long_text_multi": _tool(long=True),
        }
    elif mode == "text_gen":
        agent = {
            "type": "ai_agent_text_gen",
            "basic_gen": {**_tool(long=True), "content_template": "---{content}---"},
        }
    elif mode in ("extract", "extract_structured"):
        agent = {"type": f"ai_agent_{mode}", "basic_text": _tool(), "long_text": _tool(long=True)}
    else:
        raise BoxError(
            400, "bad_request", "'mode' is required: one of ask, text_gen, extract, extract_structured"
        )
    return box_json(agent)


routes: list[BaseRoute] = [
    Route("/2.0/ai/ask", ask, methods=["POST"]),
    Route("/2.0/ai/text_gen", text_gen, methods=["POST"]),
    Route("/2.0/ai/extract", extract, methods=["POST"]),
    Route("/2.0/ai/extract_structured", extract_structured, methods=["POST"]),
    Route("/2.0/ai_agent_default", agent_default, methods=["GET"]),
]
