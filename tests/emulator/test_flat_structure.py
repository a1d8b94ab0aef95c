"""The flattened emulator: one date parser that needs a time zone, and routes imported explicitly."""

from __future__ import annotations

import importlib
import json
import pkgutil
import subprocess
import sys

import httpx2
import pytest

from box_mcp.emulator import routes
from box_mcp.emulator.app import create_app
from box_mcp.emulator.testing import RunningEmulator

NAIVE = "2030-01-01T00:00:00"


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"lock": {"type": "lock", "expires_at": NAIVE}}, "lock.expires_at"),
        ({"shared_link": {"access": "open", "unshared_at": NAIVE}}, "shared_link.unshared_at"),
    ],
)
def test_a_naive_time_on_a_file_update_is_refused_with_boxs_bad_request(
    box: RunningEmulator, body: dict[str, object], name: str
) -> None:
    file_id = box.credentials["files"]["Engineering/design.md"]
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        answer = http.put(f"{box.base_url}/2.0/files/{file_id}", json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert (error["type"], error["code"]) == ("error", "bad_request")
    assert error["message"] == f"'{name}' needs a time zone offset (e.g. Z or +00:00)"


def test_a_naive_content_time_on_an_upload_is_refused_with_boxs_bad_request(box: RunningEmulator) -> None:
    attributes = {"name": "naive.txt", "parent": {"id": "0"}, "content_created_at": NAIVE}
    with httpx2.Client(headers={"Authorization": f"Bearer {box.token('ada')}"}) as http:
        answer = http.post(
            f"{box.base_url}/api/2.0/files/content",
            files={"attributes": (None, json.dumps(attributes)), "file": ("naive.txt", b"hi")},
        )
    assert answer.status_code == 400
    error = answer.json()
    assert error["code"] == "bad_request"
    assert error["message"] == "'content_created_at' needs a time zone offset (e.g. Z or +00:00)"


def test_the_app_serves_each_route_of_every_module_in_the_routes_package_exactly_once() -> None:
    names = [m.name for m in pkgutil.iter_modules(routes.__path__)]
    modules = [importlib.import_module(f"{routes.__name__}.{name}") for name in names]
    app = create_app(memory=True)
    served = sorted(id(route) for route in app.routes)
    app.state.emulator.store.close()
    assert served == sorted(id(route) for module in modules for route in module.routes)
    assert len(names) == 20  # 18 + hubs, docgen


def test_an_install_missing_a_route_module_fails_at_import_instead_of_serving_without_it() -> None:
    script = (
        "import sys; sys.modules['box_mcp.emulator.routes.users'] = None\n"
        "from box_mcp.emulator.app import create_app\n"
        "create_app(memory=True)\n"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "ModuleNotFoundError: import of box_mcp.emulator.routes.users halted" in done.stderr
