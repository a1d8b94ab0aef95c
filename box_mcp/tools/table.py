"""The README's tool and toolset tables, from the catalog: `python -m box_mcp.tools.table --write`."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from box_mcp.tools.catalog import CATALOG, EXTRA_TOOLSETS, select
from box_mcp.tools.spec import ToolSpec

START, END = "<!-- tools:start -->", "<!-- tools:end -->"

# What each toolset is for, as github-mcp-server's toolset list says it (a test keeps it complete).
TOOLSET_ABOUT = {
    "users": "who your calls act as (start here)",
    "enterprise": "the enterprise's users: list and create them (Box admins; off unless granted)",
    "files": "read, download, upload, rename, move, copy, lock and delete files; versions; URLs; previews",
    "folders": "browse folders; create, rename, move, copy and delete them; folder locks",
    "search": "find files by keyword, folders by name, items by metadata values",
    "sharing": "shared links and collaborators: who else can reach an item; open a shared link",
    "metadata": "metadata templates and their values on files and folders",
    "comments": "read and add comments on files",
    "tasks": "tasks on a file: read, create, assign, resolve your assignments, delete",
    "webhooks": "webhooks: have Box notify an https address of changes to a file or folder",
    "ai": "Box AI: questions about files and hubs with citations, and freeform or structured extraction",
    "trash": "the Box trash: list and read trashed items, restore them, purge them for good (admin)",
    "versions": "file versions: make an old one current, delete one, restore a deleted one",
    "locks": "file locks (optionally preventing downloads) and folder locks against moves and deletes",
    "hubs": "Box Hubs: list, read, create, update and copy hubs; add items to them",
    "docgen": "Box Doc Gen: templates and their tags; generate documents into a folder",
    "weblinks": "web links (bookmarks) in folders: create, read, change or move, delete",
}


def _hints(spec: ToolSpec) -> str:
    h = spec.hints
    marks = ["read-only" if h.read_only else "writes"]
    if h.destructive:
        marks.append("destructive")
    if h.idempotent:
        marks.append("idempotent")
    return ", ".join(marks)


def _first_sentence(text: str) -> str:
    head, dot, _ = text.partition(". ")
    return (head + "." if dot else head).replace("|", "\\|")


def listing_bytes(specs: Sequence[ToolSpec]) -> int:
    """Bytes of the tools/list result for these tools, as compact JSON, the way a client receives it."""
    from box_mcp.tools.listed import mcp_tool

    tools = [mcp_tool(s).model_dump(mode="json", by_alias=True, exclude_none=True) for s in specs]
    return len(json.dumps({"tools": tools}, separators=(",", ":"), ensure_ascii=False).encode())


def _kb(size: int) -> str:
    return f"{size / 1000:.1f} KB"


def render_toolsets(specs: Sequence[ToolSpec] = CATALOG) -> str:
    """Each toolset: what it is for, its tool count (read tools in brackets) and what it adds to tools/list;
    then the default and --read-only."""
    rows = ["| toolset | for | tools (read) | tools/list |", "|---|---|---|---|"]
    for toolset in dict.fromkeys(s.toolset for s in specs):
        members = [s for s in specs if s.toolset == toolset]
        reads = sum(s.read_only for s in members)
        about = TOOLSET_ABOUT[toolset]
        name = f"`{toolset}` *extra*" if toolset in EXTRA_TOOLSETS else f"`{toolset}`"
        rows.append(f"| {name} | {about} | {len(members)} ({reads}) | {_kb(listing_bytes(members))} |")
    default = select(specs)
    read_only = select(specs, read_only=True)
    extra = ", ".join(f"`{t}`" for t in dict.fromkeys(s.toolset for s in specs) if t in EXTRA_TOOLSETS)
    rows.append(
        f"| **default** | no `--toolsets`: every toolset but {extra} | {len(default)} | "
        f"**{_kb(listing_bytes(default))}** |"
    )
    rows.append(f"| default with `--read-only` | | {len(read_only)} | {_kb(listing_bytes(read_only))} |")
    rows.append(f"| **all** | `--toolsets all` | {len(specs)} | {_kb(listing_bytes(specs))} |")
    return "\n".join(rows)


def render(specs: Sequence[ToolSpec] = CATALOG) -> str:
    toolsets = len({s.toolset for s in specs})
    intro = (
        f"{len(specs)} tools in {toolsets} toolsets. Choose with `--toolsets`, `--tools`, `--exclude-tools`; "
        "`--read-only` keeps only read tools and wins over everything. Without `--toolsets` or `--tools` the "
        "default toolsets are served, plus any toolset or tool the policy's rules name; the extra toolsets "
        "(marked *extra*: Box's hosted server has none of them) come with `--toolsets default,<name>` or "
        "`all`. Generated from the catalog (`python -m box_mcp.tools.table --write`); a test keeps it in "
        "sync."
    )
    rows = [
        intro,
        "",
        "| tool | toolset | access | annotations | what it does |",
        "|---|---|---|---|---|",
    ]
    for spec in specs:
        rows.append(
            f"| `{spec.name}` | {spec.toolset} | {spec.access.value} | {_hints(spec)} | "
            f"{_first_sentence(spec.description)} |"
        )
    sizes = (
        "What each toolset adds to `tools/list` (compact JSON as a client receives it; the result is the "
        "sum of the toolsets chosen, plus a few bytes):"
    )
    return "\n".join([*rows, "", sizes, "", render_toolsets(specs)])


def splice(readme: str, table: str) -> str:
    """README text with the block between the markers replaced by `table`."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README has no {START} ... {END} block")
    return readme[: start + len(START)] + "\n" + table + "\n" + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    readme = Path(args[args.index("--readme") + 1]) if "--readme" in args else Path("README.md")
    if "--write" in args:
        readme.write_text(splice(readme.read_text(encoding="utf-8"), render()), encoding="utf-8")
    elif "--toolsets" in args:
        print(render_toolsets())
    else:
        print(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
