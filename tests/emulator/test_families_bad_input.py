"""Bad input to the collaboration, sharing, metadata, comment, task, web link, search, event and webhook
routes gets Box's error body with a 4xx status: never a 500, never a traceback."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import httpx2
import pytest

from box_mcp.emulator.testing import RunningEmulator

WRITES = [
    ("POST", "/2.0/collaborations"),
    ("PUT", "/2.0/collaborations/{collab}"),
    ("POST", "/2.0/metadata_templates/schema"),
    ("POST", "/2.0/files/{file}/metadata/enterprise/contract"),
    ("POST", "/2.0/comments"),
    ("PUT", "/2.0/comments/{comment}"),
    ("POST", "/2.0/tasks"),
    ("PUT", "/2.0/tasks/{task}"),
    ("POST", "/2.0/task_assignments"),
    ("POST", "/2.0/web_links"),
    ("PUT", "/2.0/web_links/{link}"),
    ("POST", "/2.0/webhooks"),
    ("PUT", "/2.0/webhooks/{webhook}"),
]
BODIES = [
    b"{not json",
    b"[1, 2]",
    b'"a string"',
    b'{"item": "file", "accessible_by": 7, "role": ["editor"], "message": 5, "task": 1, "url": 9}',
    b'{"item": {"type": "file", "id": "abc"}, "target": {"type": "user", "id": "1"}, "parent": {"id": null}}',
    b'{"expires_at": "not-a-date", "due_at": 12, "triggers": [], "address": "ftp://x", "fields": "x"}',
]


@pytest.fixture
def ids(box: RunningEmulator) -> Iterator[dict[str, str]]:
    """Real ids of one object of each kind, so that PUT routes reach their body parsing."""
    headers = {"Authorization": f"Bearer {box.token('ada')}"}
    file_id = box.credentials["files"]["Engineering/design.md"]
    base = box.base_url
    with httpx2.Client(headers=headers) as http:
        collab = http.get(f"{base}/2.0/folders/{box.credentials['folders']['Engineering']}/collaborations")
        comment = http.post(
            f"{base}/2.0/comments", json={"item": {"type": "file", "id": file_id}, "message": "x"}
        )
        task = http.post(f"{base}/2.0/tasks", json={"item": {"type": "file", "id": file_id}})
        link = http.post(
            f"{base}/2.0/web_links",
            json={"url": "https://acme.example", "parent": {"id": box.credentials["folders"]["Engineering"]}},
        )
        hook = http.post(
            f"{base}/2.0/webhooks",
            json={
                "target": {"type": "file", "id": file_id},
                "address": "https://hooks.acme.example/box",
                "triggers": ["FILE.DOWNLOADED"],
            },
        )
        yield {
            "file": file_id,
            "collab": collab.json()["entries"][0]["id"],
            "comment": comment.json()["id"],
            "task": task.json()["id"],
            "link": link.json()["id"],
            "webhook": hook.json()["id"],
        }


def test_malformed_bodies_get_a_box_error_not_a_500(box: RunningEmulator, ids: dict[str, str]) -> None:
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        for (method, template), (index, body) in itertools.product(WRITES, enumerate(BODIES)):
            url = box.base_url + template.format(**ids)
            response = http.request(method, url, content=body, headers={"Content-Type": "application/json"})
            assert response.status_code < 500, (method, template, body, response.text)
            assert "Traceback" not in response.text
            if index < 3:  # not a JSON object at all: always 400 (other bodies may hold only ignored keys)
                assert response.status_code == 400, (method, template, body)
            if response.status_code >= 400:
                error = response.json()
                assert error["type"] == "error" and error["status"] == response.status_code


BAD_QUERIES = [
    "/2.0/search?query=x&limit=abc",
    "/2.0/search?query=x&offset=-3",
    "/2.0/search?query=x&content_types=bogus",
    "/2.0/search?query=x&ancestor_folder_ids=abc",
    "/2.0/search?query=x&scope=everything",
    "/2.0/search?query=x&trash_content=maybe",
    "/2.0/search?query=x&fields=nonsense",
    "/2.0/search?query=x&size_range=big",
    "/2.0/search?query=x&created_at_range=yesterday",
    "/2.0/search?query=x&updated_at_range=2020-01-01,",
    "/2.0/search?mdfilters=notjson",
    "/2.0/search?mdfilters=[]",
    '/2.0/search?mdfilters=[{{"scope":"mars","templateKey":"x"}}]',
    "/2.0/events?stream_type=weird",
    "/2.0/events?stream_position=-5",
    "/2.0/events?limit=-1",
    "/2.0/collaborations?status=accepted",
    "/2.0/files/{file}/comments?limit=zero",
    "/2.0/files/{file}/collaborations?marker=@@@",
    "/2.0/metadata_templates/nowhere/contract/schema",
    "/2.0/metadata_templates",
    "/2.0/webhooks?limit=-2",
]


def test_bad_query_parameters_get_a_box_error(box: RunningEmulator, ids: dict[str, str]) -> None:
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        for query in BAD_QUERIES:
            response = http.get(box.base_url + query.format(**ids))
            assert 400 <= response.status_code < 500, (query, response.text)
            assert response.json()["type"] == "error"


def test_every_family_route_needs_a_token(box: RunningEmulator, ids: dict[str, str]) -> None:
    with httpx2.Client() as http:
        for method, template in WRITES:
            response = http.request(method, box.base_url + template.format(**ids), json={})
            assert response.status_code == 401, (method, template)
            assert response.json()["code"] == "unauthorized"
