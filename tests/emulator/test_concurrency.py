"""Concurrent requests against one emulator: the store's single-writer discipline keeps names unique."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx2 as httpx

from box_mcp.emulator.testing import RunningEmulator

WORKERS = 8


def test_parallel_creates_of_one_name_give_one_folder_and_conflicts(box: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {box.token()}"}

    def create(_: int) -> int:
        with httpx.Client(base_url=box.base_url, headers=headers, timeout=30) as http:
            return http.post("/2.0/folders", json={"name": "Race", "parent": {"id": "0"}}).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = sorted(pool.map(create, range(WORKERS)))
    assert statuses == [201] + [409] * (WORKERS - 1)


def test_parallel_uploads_of_one_name_give_one_file(box: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {box.token()}"}
    attributes = json.dumps({"name": "race.bin", "parent": {"id": "0"}})

    def upload(index: int) -> int:
        with httpx.Client(base_url=box.base_url, headers=headers, timeout=30) as http:
            files = {"attributes": (None, attributes), "file": ("race.bin", bytes([index]) * 200_000)}
            return http.post("/api/2.0/files/content", files=files).status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = sorted(pool.map(upload, range(WORKERS)))
    assert statuses == [201] + [409] * (WORKERS - 1)
    with httpx.Client(base_url=box.base_url, headers=headers) as http:
        names = [e["name"] for e in http.get("/2.0/folders/0/items").json()["entries"]]
    assert names.count("race.bin") == 1


def test_download_links_are_short_lived(box: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {box.token()}"}
    file_id = box.credentials["files"]["Engineering/notes.txt"]
    with httpx.Client(base_url=box.base_url) as http:
        link = http.get(f"/2.0/files/{file_id}/content", headers=headers).headers["location"]
        assert link.startswith(box.base_url) and http.get(link).status_code == 200
        box.emulator.store.execute("UPDATE download_links SET expires_at = 0")
        assert http.get(link).status_code == 404
