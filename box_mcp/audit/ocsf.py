"""Audit records as OCSF 1.3 events, for SIEMs (`box-mcp audit export --format ocsf`, docs/audit-format.md).

    call, intent, outcome, session_start, session_end, tools_list  -> API Activity (6003)
    sign_in, broker                                                -> Authentication (3002)
    policy_load, policy_reload, log_recovery, anything else        -> Application Lifecycle (6002)

A record's `hash` is the event's `metadata.uid` (a SIEM's de-duplication key) and its `seq` is
`metadata.sequence`. Only what the record holds is mapped, so what the log masked or cut stays masked
or cut; the record's own fields that OCSF has no place for are kept under `unmapped.box_mcp`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from box_mcp import __version__
from box_mcp.tools.catalog import CATALOG

OCSF_VERSION = "1.3.0"
API_ACTIVITY, AUTHENTICATION, APP_LIFECYCLE = 6003, 3002, 6002
_CATEGORY = {API_ACTIVITY: 6, AUTHENTICATION: 3, APP_LIFECYCLE: 6}
_CLASS_NAME = {
    API_ACTIVITY: "API Activity",
    AUTHENTICATION: "Authentication",
    APP_LIFECYCLE: "Application Lifecycle",
}
_CATEGORY_NAME = {6: "Application Activity", 3: "Identity & Access Management"}
_API_KINDS = ("call", "intent", "outcome", "session_start", "session_end", "tools_list", "notification")
# API Activity's activity_id: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other
_CREATES = ("create_", "upload_", "copy_", "add_")
_READ_ONLY = {t.name: t.hints.read_only for t in CATALOG}
_SIGNED_IN = ("signed_in", "reconnected")
_SIGN_IN_FAILED = ("consent_denied", "box_denied", "box_error", "refused", "reconnect_wrong_account")
_MAPPED = {"v", "seq", "id", "time", "kind", "hash", "prev_hash", "mac", "items", "outcome", "latency_ms"}


def epoch_ms(stamp: str) -> int:
    """A record's `time` (2026-11-23T13:19:55.123456Z) as OCSF's milliseconds since the epoch."""
    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)


def _activity(tool: str | None) -> tuple[int, str]:
    if not tool or tool not in _READ_ONLY:
        return 0, "Unknown"
    if _READ_ONLY[tool]:
        return 2, "Read"
    if tool.startswith(("delete_", "remove_")):
        return 4, "Delete"
    if tool.startswith(_CREATES):
        return 1, "Create"
    return 3, "Update"


def _status(rec: dict[str, Any]) -> tuple[int, str]:
    outcome = rec.get("outcome") or {}
    status = outcome.get("status")
    if rec.get("kind") == "intent" or status is None:
        return 0, "Unknown"
    return (1, "Success") if status == "ok" else (2, "Failure")


def _severity(rec: dict[str, Any]) -> tuple[int, str]:
    status = (rec.get("outcome") or {}).get("status")
    if status == "denied":
        return 3, "Medium"
    if status not in (None, "ok"):
        return 2, "Low"
    return 1, "Informational"


def _base(rec: dict[str, Any], class_uid: int, activity_id: int, activity_name: str) -> dict[str, Any]:
    category = _CATEGORY[class_uid]
    severity_id, severity = _severity(rec)
    status_id, status = _status(rec)
    metadata: dict[str, Any] = {
        "version": OCSF_VERSION,
        "product": {"name": "box-mcp", "vendor_name": "box-mcp", "version": __version__},
        "uid": rec.get("hash"),
        "sequence": rec.get("seq"),
        "log_name": "box-mcp audit",
        "original_time": rec.get("time"),
    }
    correlation = rec.get("intent_id") or _detail(rec).get("call_id")
    if correlation:
        metadata["correlation_uid"] = correlation
    event: dict[str, Any] = {
        "class_uid": class_uid,
        "class_name": _CLASS_NAME[class_uid],
        "category_uid": category,
        "category_name": _CATEGORY_NAME[category],
        "activity_id": activity_id,
        "activity_name": activity_name,
        "type_uid": class_uid * 100 + activity_id,
        "type_name": f"{_CLASS_NAME[class_uid]}: {activity_name}",
        "time": epoch_ms(str(rec["time"])),
        "severity_id": severity_id,
        "severity": severity,
        "status_id": status_id,
        "status": status,
        "metadata": metadata,
        "unmapped": {"box_mcp": {k: v for k, v in rec.items() if k not in _MAPPED}},
    }
    outcome = rec.get("outcome") or {}
    if outcome.get("status"):
        event["status_code"] = str(outcome["status"])
    if outcome.get("message"):
        event["status_detail"] = outcome["message"]
    if rec.get("latency_ms") is not None:
        event["duration"] = rec["latency_ms"]
    return event


def _actor(rec: dict[str, Any]) -> dict[str, Any]:
    actor: dict[str, Any] = {}
    if rec.get("agent"):
        actor["app_name"] = rec["agent"]
    person = rec.get("person")
    if isinstance(person, dict) and person.get("box_user_id"):
        user = {"uid": person["box_user_id"], "type": "User", "type_id": 1}
        if person.get("login"):
            user["name"] = person["login"]
        actor["user"] = user
    elif rec.get("agent"):
        actor["user"] = {"name": rec["agent"], "type": "Other", "type_id": 99}
    if rec.get("session_id"):
        actor["session"] = {"uid": rec["session_id"]}
    return actor


def _detail(rec: dict[str, Any]) -> dict[str, Any]:
    detail = rec.get("detail")
    return detail if isinstance(detail, dict) else {}


def _api_activity(rec: dict[str, Any]) -> dict[str, Any]:
    kind = str(rec.get("kind"))
    if kind in ("call", "intent", "outcome"):
        activity_id, name = _activity(rec.get("tool"))
    else:
        activity_id, name = 99, "Other"
    event = _base(rec, API_ACTIVITY, activity_id, name)
    detail = _detail(rec)
    api: dict[str, Any] = {"operation": rec.get("tool") or kind, "service": {"name": "Box"}}
    if detail.get("call_id"):
        api["request"] = {"uid": detail["call_id"]}
    outcome = rec.get("outcome") or {}
    response = {
        key: outcome[src]
        for key, src in (("code", "http_status"), ("error", "error_code"), ("error_message", "message"))
        if outcome.get(src) is not None
    }
    if outcome.get("request_id"):
        response["uid"] = outcome["request_id"]
    if response:
        api["response"] = response
    event["api"] = api
    event["actor"] = _actor(rec)
    endpoint: dict[str, Any] = {"svc_name": detail.get("transport") or "mcp"}
    if rec.get("client_name"):
        endpoint["name"] = rec["client_name"]
    event["src_endpoint"] = endpoint
    resources = [
        {k: v for k, v in (("uid", i.get("id")), ("type", i.get("type")), ("name", i.get("name"))) if v}
        for i in rec.get("items") or ()
        if isinstance(i, dict)
    ]
    if resources:
        event["resources"] = resources
    decision = rec.get("decision")
    if isinstance(decision, dict) and decision.get("effect"):
        effect = decision["effect"]
        event["disposition_id"], event["disposition"] = {
            "allow": (1, "Allowed"),
            "deny": (2, "Blocked"),
        }.get(effect, (99, "Approval required" if effect == "approval_required" else str(effect)))
    return event


def _authentication(rec: dict[str, Any]) -> dict[str, Any]:
    detail = _detail(rec)
    if rec.get("kind") == "sign_in":
        step = str(detail.get("step", ""))
        event = _base(rec, AUTHENTICATION, 1, "Logon")
        if step in _SIGNED_IN:
            event["status_id"], event["status"] = 1, "Success"
        elif step in _SIGN_IN_FAILED:
            event["status_id"], event["status"], event["severity_id"], event["severity"] = (
                2,
                "Failure",
                2,
                "Low",
            )
        event["status_detail"] = step
        user: dict[str, Any] = {"type": "User", "type_id": 1}
        if detail.get("box_user_id"):
            user["uid"] = detail["box_user_id"]
        if detail.get("login"):
            user["name"] = detail["login"]
        event["user"] = user
        event["auth_protocol_id"], event["auth_protocol"] = 6, "OAUTH 2.0"
    else:  # broker: a Box token issued or refreshed for an identity (a service, not a person, logging on)
        what = str(detail.get("event", ""))
        event = _base(rec, AUTHENTICATION, 99, "Other")
        failed = what.endswith("failed") or what == "needs_sign_in"
        event["status_id"], event["status"] = (2, "Failure") if failed else (1, "Success")
        if failed:
            event["severity_id"], event["severity"] = 2, "Low"
        event["status_detail"] = what
        event["user"] = {"name": str(rec.get("acting_as") or detail.get("identity") or ""), "type": "Other"}
        event["user"]["type_id"] = 99
        event["auth_protocol_id"], event["auth_protocol"] = 6, "OAUTH 2.0"
    event["service"] = {"name": "Box"}
    return event


def _lifecycle(rec: dict[str, Any]) -> dict[str, Any]:
    event = _base(rec, APP_LIFECYCLE, 99, "Other")
    event["activity_name"] = str(rec.get("kind"))
    event["app"] = {"name": "box-mcp", "vendor_name": "box-mcp", "version": __version__}
    return event


def to_ocsf(rec: dict[str, Any]) -> dict[str, Any]:
    """One audit record as one OCSF event (a new dict; the record is not changed)."""
    kind = rec.get("kind")
    if kind in _API_KINDS:
        return _api_activity(rec)
    if kind in ("sign_in", "broker"):
        return _authentication(rec)
    return _lifecycle(rec)
