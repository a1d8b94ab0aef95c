"""Every field the emulator accepts in `fields` renders in a shape Box's OpenAPI spec accepts."""

from __future__ import annotations

import httpx2 as httpx

from box_mcp.emulator.fields import KNOWN_FIELDS
from box_mcp.emulator.testing import RunningEmulator


def test_each_known_field_of_files_and_folders_validates(box: RunningEmulator) -> None:
    # The `box` fixture validates every JSON response against the spec when the test ends.
    readme = box.credentials["files"]["Engineering/README.md"]  # has a shared link
    msa = box.credentials["files"]["Contracts/MSA-Globex.pdf"]  # has tags
    contracts = box.credentials["folders"]["Contracts"]
    with httpx.Client(base_url=box.base_url, headers={"Authorization": f"Bearer {box.token()}"}) as http:
        for name in sorted(KNOWN_FIELDS["file"]):
            for file_id in (readme, msa):
                assert http.get(f"/2.0/files/{file_id}", params={"fields": name}).status_code == 200
        for name in sorted(KNOWN_FIELDS["folder"]):
            assert http.get(f"/2.0/folders/{contracts}", params={"fields": name}).status_code == 200
        everything = ",".join(sorted(KNOWN_FIELDS["folder"] | KNOWN_FIELDS["file"]))
        listing = http.get(f"/2.0/folders/{contracts}/items", params={"fields": everything})
    assert listing.status_code == 200
    entry = next(e for e in listing.json()["entries"] if e["name"] == "MSA-Globex.pdf")
    assert entry["tags"] == ["contract", "globex"] and entry["extension"] == "pdf"
