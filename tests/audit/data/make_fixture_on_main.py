"""Writes tests/audit/data/{plain,sealed}/ with box-mcp main's audit code (commit 959c433)."""
import asyncio, shutil, sys
from pathlib import Path
from types import SimpleNamespace
from pydantic import BaseModel
from box_mcp import gate
from box_mcp.access import Access, CallFacts, ItemRef, ResourceUse
from box_mcp.audit import AuditLog
from box_mcp.audit.hook import GateAudit
from box_mcp.decision import Decision
from box_mcp.events import SessionInfo

KEY = bytes(range(32))

class UploadArgs(BaseModel):
    parent_id: str
    name: str
    content: str
    password: str

def clock():
    t = [1_796_000_000_000_000_000]
    def now():
        t[0] += 1_500_000
        return t[0]
    return now

async def write(directory: Path, key):
    log = await AuditLog.open(directory, clock=clock(), key=key, index=False)
    audit = GateAudit(log, secret_fields=lambda: frozenset({"password"}))
    await audit.sink("policy_load", {"detail": {"file": "policies/default.yaml", "sha256": "ab" * 32}})
    await audit.sink("session_start", {"agent": "claude", "session_id": "s1", "client_name": "cc", "client_version": "2.1"})
    up = gate.Call(call_id="c1", agent="claude", tool=SimpleNamespace(name="upload_file"),
                   args=UploadArgs(parent_id="0", name="a.txt", content="secret body", password="hunter2"),
                   resources=(ResourceUse(ItemRef("folder", "0"), Access.WRITE, "parent"),),
                   facts=CallFacts(name="a.txt", extension="txt"), transport="stdio")
    await audit.intent(up)
    await audit.outcome(up, gate.Outcome(True, Decision("allow", ("uploads",), "uploads to folder 0"), 41.5,
                                         result_item={"type": "file", "id": "77", "name": "a.txt", "parent_path": "/"}))
    await audit.outcome(up.__class__(**{**{f: getattr(up, f) for f in up.__dataclass_fields__}, "call_id": "c2", "tool": SimpleNamespace(name="move_file")}),
                        gate.Outcome(False, Decision("deny", ("confined",), "outside /Projects"), 0.3, "Denied: outside", "denied"))
    await audit.rejected("nope", {"x": float("nan")}, call_id="c3", agent="claude", transport="stdio", session=None,
                         outcome=gate.Outcome(False, Decision("allow"), 0.1, "Unknown tool 'nope'", "unknown_tool"))
    await audit.sink("broker", {"acting_as": "service_account", "detail": {"event": "issue", "identity": "service_account"}})
    await log.append("call", tool="get_file_details", acting_as={"type": "user", "id": "9"}, bytes_in=1, bytes_out=2,
                     outcome={"status": "ok", "http_status": 200})
    i2 = await log.intent(agent="claude", tool="create_folder", items=[ItemRef("folder", "0")])
    await log.outcome(i2, outcome="ok", latency_ms=3.25)
    await audit.sink("session_end", {"agent": "claude", "session_id": "s1", "detail": {"reason": "client closed"}})
    await log.aclose()

async def main(out: Path):
    for name, key in (("plain", None), ("sealed", KEY)):
        d = out / name
        shutil.rmtree(d, ignore_errors=True)
        await write(d, key)
        for extra in d.iterdir():
            if not extra.name.endswith(".jsonl") and extra.name != "audit.head":
                extra.unlink()

asyncio.run(main(Path(sys.argv[1])))
