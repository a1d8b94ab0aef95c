"""Metadata template schema updates (`PUT /metadata_templates/{scope}/{key}/schema`): Box's list of
operations, applied all or nothing, with the instances that use a renamed or removed field or option
rewritten the way Box rewrites them. The classification template is updated through the same operations
(`#add` = addEnumOption, `#update` = editEnumOption on `Box__Security__Classification__Key`)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from .errors import bad_request
from .store import Store

CLASSIFICATION_KEY = "securityClassification-6VMVochwUWo"
CLASSIFICATION_FIELD = "Box__Security__Classification__Key"
FIELD_TYPES = ("string", "float", "date", "enum", "multiSelect")
# option operations -> (what they do, the field type they apply to, the parameter naming the option)
OPTION_OPS = {
    f"{verb}{suffix}Option": (verb, kind, f"{kind}OptionKey")
    for verb in ("add", "edit", "remove")
    for suffix, kind in (("Enum", "enum"), ("MultiSelect", "multiSelect"))
}
TEMPLATE_KEY = re.compile(r"^[a-zA-Z_][-a-zA-Z0-9_]*$")
MAX_TEXT = 4096  # displayName and description (OpenAPI: maxLength 4096)
# An editable field's attributes (editField); a key change renames the values held in instances.
FIELD_EDITS = ("key", "displayName", "description", "hidden", "options")


def option(raw: Any, where: str) -> dict[str, Any]:
    """One enum/multiSelect option as Box keeps it: an id, its key, and `staticConfig` when given (the
    classification template's definition and colour live there)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise bad_request(f"'{where}' needs an option object with a non-empty 'key'")
    out: dict[str, Any] = {"id": str(uuid.uuid4()), "key": raw["key"]}
    if "staticConfig" in raw:
        if not isinstance(raw["staticConfig"], dict):
            raise bad_request(f"'{where}.staticConfig' must be an object")
        out["staticConfig"] = raw["staticConfig"]
    return out


def _field(fields: list[dict[str, Any]], key: Any, where: str) -> dict[str, Any]:
    for field in fields:
        if field["key"] == key:
            return field
    raise bad_request(f"'{where}.fieldKey' names no field of this template ({key!r})")


def _option_list(field: dict[str, Any], kind: str, where: str) -> list[dict[str, Any]]:
    if field["type"] != kind:
        raise bad_request(f"'{where}' applies to {kind} fields; '{field['key']}' is a {field['type']} field")
    options: list[dict[str, Any]] = field.setdefault("options", [])
    return options


def _find_option(options: list[dict[str, Any]], key: Any, where: str) -> dict[str, Any]:
    for entry in options:
        if entry["key"] == key:
            return entry
    raise bad_request(f"'{where}' names no option {key!r} of this field")


def _reorder(entries: list[dict[str, Any]], keys: Any, where: str) -> list[dict[str, Any]]:
    have = [e["key"] for e in entries]
    if not isinstance(keys, list) or sorted(map(str, keys)) != sorted(have) or len(set(keys)) != len(keys):
        raise bad_request(f"'{where}' must list every key exactly once: {', '.join(have)}")
    by_key = {e["key"]: e for e in entries}
    return [by_key[k] for k in keys]


class _Rewrites:
    """What the operations do to instances: renamed/removed fields, renamed/removed option values."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, str, Any, Any]] = []  # (what, field key, old, new)

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        for what, field, old, new in self.steps:
            if what == "rename_field" and old in data:
                data[new] = data.pop(old)
            elif what == "remove_field":
                data.pop(field, None)
            elif what in ("rename_option", "remove_option") and field in data:
                value = data[field]
                if isinstance(value, list):
                    kept = [new if v == old else v for v in value if what == "rename_option" or v != old]
                    data[field] = kept
                elif value == old:
                    if what == "rename_option":
                        data[field] = new
                    else:
                        del data[field]
        return data


def apply_operations(template: dict[str, Any], ops: Any) -> tuple[dict[str, Any], _Rewrites]:
    """The template after `ops` (a copy), and what they mean for its instances; 400 on any bad op."""
    if not isinstance(ops, list) or not ops:
        raise bad_request("The body must be a non-empty list of operations ({op, data, fieldKey, ...})")
    new = dict(template)
    fields: list[dict[str, Any]] = json.loads(template["fields"])
    rewrites = _Rewrites()
    for index, op in enumerate(ops):
        where = f"[{index}]"
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise bad_request(f"'{where}' must be an operation object with an 'op'")
        name, data = op["op"], op.get("data")
        if name == "editTemplate":
            if not isinstance(data, dict):
                raise bad_request(f"'{where}.data' must be an object")
            for key, column in (
                ("displayName", "display_name"),
                ("hidden", "hidden"),
                ("copyInstanceOnItemCopy", "copy_instance_on_item_copy"),
            ):
                if key in data:
                    new[column] = data[key] if key == "displayName" else int(flag(data, key, f"{where}.data"))
            if not isinstance(new["display_name"], str) or not new["display_name"].strip():
                raise bad_request(f"'{where}.data.displayName' must be a non-empty string")
        elif name == "addField":
            fields.append(field_definition(data, f"{where}.data", {f["key"] for f in fields}))
        elif name == "editField":
            field = _field(fields, op.get("fieldKey"), where)
            if not isinstance(data, dict) or not set(data) <= set(FIELD_EDITS):
                raise bad_request(f"'{where}.data' may set {', '.join(FIELD_EDITS)}")
            _check_edit(data, f"{where}.data")
            if "key" in data and data["key"] != field["key"]:
                if any(f["key"] == data["key"] for f in fields):
                    raise bad_request(f"'{where}.data.key' duplicates the key '{data['key']}'")
                rewrites.steps.append(("rename_field", field["key"], field["key"], data["key"]))
            for key in ("key", "displayName", "description", "hidden"):
                if key in data:
                    field[key] = data[key]
        elif name == "removeField":
            field = _field(fields, op.get("fieldKey"), where)
            fields.remove(field)
            rewrites.steps.append(("remove_field", field["key"], None, None))
        elif name == "reorderFields":
            fields = _reorder(fields, op.get("fieldKeys"), f"{where}.fieldKeys")
        elif name in OPTION_OPS:
            verb, kind, key_param = OPTION_OPS[name]
            field = _field(fields, op.get("fieldKey"), where)
            options = _option_list(field, kind, where)
            option_key = op.get(key_param)
            if verb == "add":
                added = option(data, f"{where}.data")
                if any(o["key"] == added["key"] for o in options):
                    raise bad_request(f"'{where}.data.key' duplicates the option '{added['key']}'")
                options.append(added)
            elif verb == "edit":
                entry = _find_option(options, option_key, where)
                if not isinstance(data, dict):
                    raise bad_request(f"'{where}.data' must be an object")
                edited = option({"key": data.get("key", entry["key"]), **data}, f"{where}.data")
                if edited["key"] != entry["key"]:
                    if any(o["key"] == edited["key"] for o in options):
                        raise bad_request(f"'{where}.data.key' duplicates the option '{edited['key']}'")
                    rewrites.steps.append(("rename_option", field["key"], entry["key"], edited["key"]))
                entry["key"] = edited["key"]
                if "staticConfig" in edited:
                    entry["staticConfig"] = edited["staticConfig"]
            else:
                entry = _find_option(options, option_key, where)
                options.remove(entry)
                rewrites.steps.append(("remove_option", field["key"], entry["key"], None))
        elif name in ("reorderEnumOptions", "reorderMultiSelectOptions"):
            kind = "enum" if name == "reorderEnumOptions" else "multiSelect"
            field = _field(fields, op.get("fieldKey"), where)
            keys_name = "enumOptionKeys" if kind == "enum" else "multiSelectOptionKeys"
            field["options"] = _reorder(
                _option_list(field, kind, where), op.get(keys_name), f"{where}.{keys_name}"
            )
        else:
            raise bad_request(f"'{where}.op' {name!r} is not a metadata template operation")
    new["fields"] = json.dumps(fields)
    return new, rewrites


def _check_edit(data: dict[str, Any], where: str) -> None:
    """editField's values, checked as a new field's are."""
    key = data.get("key")
    if "key" in data and (not isinstance(key, str) or not TEMPLATE_KEY.match(key) or len(key) > 256):
        raise bad_request(f"'{where}.key' must be letters, digits, '_' or '-'")
    name = data.get("displayName")
    if "displayName" in data and (not isinstance(name, str) or not name or len(name) > MAX_TEXT):
        raise bad_request(
            f"'{where}.displayName' must be a non-empty string of at most {MAX_TEXT} characters"
        )
    text = data.get("description")
    if "description" in data and (not isinstance(text, str) or len(text) > MAX_TEXT):
        raise bad_request(f"'{where}.description' must be a string of at most {MAX_TEXT} characters")
    flag(data, "hidden", where)


def field_definition(field: Any, where: str, taken: set[str]) -> dict[str, Any]:
    """A new template field checked as Box checks it (type, key, displayName, options for enums)."""
    if not isinstance(field, dict):
        raise bad_request(f"'{where}' must be an object")
    ftype, key, name = field.get("type"), field.get("key"), field.get("displayName")
    if ftype == "taxonomy":  # Box's taxonomy fields need a metadata taxonomy, which the emulator has none of
        raise bad_request(f"'{where}.type' taxonomy needs a metadata taxonomy; this emulator has none")
    if ftype not in FIELD_TYPES:
        raise bad_request(f"'{where}.type' must be one of {', '.join(FIELD_TYPES)}")
    if not isinstance(key, str) or not TEMPLATE_KEY.match(key) or len(key) > 256:
        raise bad_request(f"'{where}.key' must be letters, digits, '_' or '-'")
    if key in taken:
        raise bad_request(f"'{where}.key' duplicates the key '{key}'")
    taken.add(key)
    if not isinstance(name, str) or not name:
        raise bad_request(f"'{where}.displayName' is required")
    if len(name) > MAX_TEXT:
        raise bad_request(f"'{where}.displayName' is longer than {MAX_TEXT} characters")
    description = field.get("description")
    if description is not None and (not isinstance(description, str) or len(description) > MAX_TEXT):
        raise bad_request(f"'{where}.description' must be a string of at most {MAX_TEXT} characters")
    flag(field, "hidden", where)
    if ftype not in ("enum", "multiSelect") and field.get("options") is not None:
        raise bad_request(f"'{where}.options' are for enum and multiSelect fields, not {ftype}")
    entry: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": ftype,
        "key": key,
        "displayName": name,
        "hidden": bool(field.get("hidden", False)),
    }
    if isinstance(description, str):
        entry["description"] = description
    if ftype in ("enum", "multiSelect"):
        options = field.get("options")
        if not isinstance(options, list) or not options:
            raise bad_request(f"'{where}.options' needs a list of {{key}} for {ftype}")
        entry["options"] = [option(o, f"{where}.options[{i}]") for i, o in enumerate(options)]
        keys = [o["key"] for o in entry["options"]]
        if len(set(keys)) != len(keys):
            raise bad_request(f"'{where}.options' names an option key twice")
    return entry


def flag(body: dict[str, Any], name: str, where: str = "") -> bool:
    """An optional boolean of a template or field (Box refuses a string or number there)."""
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise bad_request(f"'{where + '.' if where else ''}{name}' must be true or false")
    return value


def rewrite_instances(st: Store, scope: str, key: str, rewrites: _Rewrites) -> None:
    """Apply renamed/removed fields and options to every instance of the template (inside the caller's tx)."""
    if not rewrites.steps:
        return
    for row in st.fetch_all(
        "SELECT id, data FROM metadata_instances WHERE scope = ? AND template_key = ?", (scope, key)
    ):
        data = rewrites.apply(json.loads(row["data"]))
        st.execute(
            "UPDATE metadata_instances SET data = ?, version = version + 1 WHERE id = ?",
            (json.dumps(data), row["id"]),
        )


# Box's colorID -> the colour an item's `classification` field shows (the emulator's palette: Box says
# its mapping "may change without notice", so only the names in the spec are taken from Box).
COLORS = {
    0: "#FFD700",  # yellow
    1: "#FF8C00",  # orange
    2: "#FC5C65",  # watermelon red
    3: "#8E44AD",  # purple rain
    4: "#5DADE2",  # light blue
    5: "#1F4E99",  # dark blue
    6: "#7ED957",  # light green
    7: "#8C8C8C",  # gray
}


def classification_of(st: Store, item_type: str, item_id: str, scope: str) -> dict[str, Any] | None:
    """An item's `classification` field: its classification's name, definition and colour, or None."""
    inst = st.fetch_one(
        "SELECT data FROM metadata_instances WHERE item_type = ? AND item_id = ? AND scope = ? "
        "AND template_key = ?",
        (item_type, item_id, scope, CLASSIFICATION_KEY),
    )
    if inst is None:
        return None
    name = json.loads(inst["data"]).get(CLASSIFICATION_FIELD)
    if not isinstance(name, str):
        return None
    template = st.fetch_one(
        "SELECT fields FROM metadata_templates WHERE scope = ? AND template_key = ?",
        (scope, CLASSIFICATION_KEY),
    )
    config: dict[str, Any] = {}
    for field in json.loads(template["fields"]) if template is not None else []:
        for entry in field.get("options", []):
            if entry.get("key") == name:
                config = (entry.get("staticConfig") or {}).get("classification") or {}
    out: dict[str, Any] = {"name": name}
    if isinstance(config.get("classificationDefinition"), str):
        out["definition"] = config["classificationDefinition"]
    color = config.get("colorID")
    if isinstance(color, int) and color in COLORS:
        out["color"] = COLORS[color]
    return out
