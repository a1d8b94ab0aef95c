"""The official SDK against upload URLs from the preflight check and against file representations
(previews): the upload_url + upload_token a preflight answers take one upload, into the folder and name
(or the file) it checked, until they expire; `fields=representations` with `x-rep-hints` lists Box's
representation entries, whose info.url generates paged PNG pages of a text file and whose url_template
serves them. JSON answers are checked against Box's OpenAPI spec (the `box` fixture)."""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Callable

import httpx2
import pytest
from box_sdk_gen import BoxAPIError, BoxClient
from box_sdk_gen.managers.uploads import PreflightFileUploadCheckParent

from box_mcp.emulator import page_render
from box_mcp.emulator.testing import RunningEmulator

Sdk = Callable[[str], BoxClient]
PNG_HINTS = "[png?dimensions=1024x1024][jpg?dimensions=1024x1024]"


def _code(err: pytest.ExceptionInfo[BoxAPIError]) -> tuple[int, str | None]:
    return err.value.response_info.status_code, err.value.response_info.code


def _post(url: str, token: str, attributes: dict[str, object], data: bytes) -> httpx2.Response:
    files = {"attributes": (None, json.dumps(attributes), "application/json"), "file": ("f", data)}
    return httpx2.post(url, headers={"Authorization": f"Bearer {token}"}, files=files, timeout=10)


def _tiny_png(width: int, height: int) -> bytes:
    rows = [b"\xff" * ((width + 7) // 8)] * height
    return page_render.encode_png_1bit(width, height, rows) if width % 8 == 0 else b""


# --- upload URLs ------------------------------------------------------------------------------------------


def test_a_preflight_upload_url_takes_one_upload_into_the_folder_and_name_it_checked(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada, finance = sdk("ada"), box.credentials["folders"]["Finance"]
    url = ada.uploads.preflight_file_upload_check(
        name="big.bin", size=5, parent=PreflightFileUploadCheckParent(id=finance)
    )
    assert url.upload_url.startswith(f"{box.base_url}/api/2.0/files/content?upload_session_id=")
    assert url.upload_token and url.upload_token not in url.upload_url
    attrs = {"name": "big.bin", "parent": {"id": finance}}
    # another name, another folder, another size: refused, and the URL stays usable
    assert (
        _post(url.upload_url, url.upload_token, {**attrs, "name": "other.bin"}, b"hello").status_code == 400
    )
    other = {**attrs, "parent": {"id": box.credentials["folders"]["HR"]}}
    assert _post(url.upload_url, url.upload_token, other, b"hello").status_code == 404  # out of its reach
    assert _post(url.upload_url, url.upload_token, attrs, b"hello!").status_code == 400
    wrong = _post(url.upload_url, "x" * 32, attrs, b"hello")
    assert wrong.status_code == 401 and wrong.json()["code"] == "invalid_token"
    landed = _post(url.upload_url, url.upload_token, attrs, b"hello")
    assert landed.status_code == 201, landed.text
    made = landed.json()["entries"][0]
    assert made["name"] == "big.bin" and made["parent"]["id"] == finance and made["size"] == 5
    got = ada.files.get_file_by_id(made["id"])
    assert got.created_by.login == "ada@acme.example"  # the upload acted as the preflight's user
    assert ada.downloads.download_file(made["id"]).read() == b"hello"
    again = _post(url.upload_url, url.upload_token, {**attrs, "name": "big2.bin"}, b"hello")
    assert again.status_code == 401 and "used already" in again.json()["message"]


def test_an_upload_token_is_no_api_token_and_expires(sdk: Sdk, box: RunningEmulator) -> None:
    finance = box.credentials["folders"]["Finance"]
    url = sdk("ada").uploads.preflight_file_upload_check(
        name="later.txt", parent=PreflightFileUploadCheckParent(id=finance)
    )
    as_api = httpx2.get(
        f"{box.base_url}/2.0/folders/{finance}", headers={"Authorization": f"Bearer {url.upload_token}"}
    )
    assert as_api.status_code == 401
    plain = _post(f"{box.base_url}/api/2.0/files/content", url.upload_token, {"name": "later.txt"}, b"x")
    assert plain.status_code == 401  # without its upload_url, the token is nothing
    box.emulator.store.execute("UPDATE upload_grants SET expires_at = 0")
    late = _post(url.upload_url, url.upload_token, {"name": "later.txt", "parent": {"id": finance}}, b"x")
    assert late.status_code == 401 and "expired" in late.json()["message"]


def test_the_preflight_refuses_what_the_upload_would(sdk: Sdk, box: RunningEmulator) -> None:
    finance = box.credentials["folders"]["Finance"]
    with pytest.raises(BoxAPIError) as taken:
        sdk("ada").uploads.preflight_file_upload_check(
            name="q3-report.md", parent=PreflightFileUploadCheckParent(id=finance)
        )
    assert _code(taken) == (409, "item_name_in_use")
    with pytest.raises(BoxAPIError) as bad:
        sdk("ada").uploads.preflight_file_upload_check(
            name="a/b.txt", parent=PreflightFileUploadCheckParent(id=finance)
        )
    assert _code(bad)[0] == 400


def test_a_version_preflight_binds_its_url_to_the_file(sdk: Sdk, box: RunningEmulator) -> None:
    ada, report = sdk("ada"), box.credentials["files"]["Finance/q3-report.md"]
    auth = {"Authorization": f"Bearer {box.token('ada')}"}
    answer = httpx2.request(
        "OPTIONS", f"{box.base_url}/2.0/files/{report}/content", headers=auth, json={"size": 3}
    )
    assert answer.status_code == 200, answer.text
    url = answer.json()
    assert url["upload_url"].startswith(f"{box.base_url}/api/2.0/files/{report}/content?upload_session_id=")
    renamed = _post(url["upload_url"], url["upload_token"], {"name": "renamed.md"}, b"new")
    assert renamed.status_code == 400  # the preflight checked no new name
    landed = _post(url["upload_url"], url["upload_token"], {}, b"new")
    assert landed.status_code == 201, landed.text
    assert ada.downloads.download_file(report).read() == b"new"
    assert ada.files.get_file_by_id(report, fields=["version_number"]).version_number == "2"
    missing = httpx2.request("OPTIONS", f"{box.base_url}/2.0/files/9999999/content", headers=auth, json={})
    assert missing.status_code == 404


# --- representations --------------------------------------------------------------------------------------


def test_a_text_file_has_paged_png_representations_generated_on_request(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada, finance = sdk("ada"), box.credentials["folders"]["Finance"]
    text = "".join(f"line {n}\n" for n in range(1, 121))  # 120 lines: 3 pages of 53
    url = ada.uploads.preflight_file_upload_check(
        name="long.txt", parent=PreflightFileUploadCheckParent(id=finance)
    )
    made = _post(
        url.upload_url, url.upload_token, {"name": "long.txt", "parent": {"id": finance}}, text.encode()
    )
    file_id = made.json()["entries"][0]["id"]
    got = ada.files.get_file_by_id(file_id, fields=["representations"], x_rep_hints=PNG_HINTS)
    (rep,) = got.representations.entries  # a text file: png pages, no jpg
    assert rep.representation == "png" and rep.properties.dimensions == "1024x1024"
    assert rep.properties.paged == "true" and rep.status.state.value == "none"
    template = rep.content.url_template
    assert template.endswith("/content/{+asset_path}")
    auth = {"Authorization": f"Bearer {box.token('ada')}"}
    assert httpx2.get(template.replace("{+asset_path}", "1.png"), headers=auth).status_code == 202
    info = httpx2.get(rep.info.url, headers=auth).json()
    assert info["status"]["state"] == "success" and info["metadata"] == {"pages": 3}
    listed = ada.files.get_file_by_id(file_id, fields=["representations"], x_rep_hints=PNG_HINTS)
    assert listed.representations.entries[0].status.state.value == "success"
    page = httpx2.get(template.replace("{+asset_path}", "3.png"), headers=auth)
    assert page.status_code == 200 and page.headers["content-type"] == "image/png"
    assert page_render.png_size(page.content) == (1024, 1024)
    assert page.content == page_render.render_page(text, 3, "1024x1024")  # deterministic
    assert httpx2.get(template.replace("{+asset_path}", "1.png"), headers=auth).content != page.content
    missing = httpx2.get(template.replace("{+asset_path}", "4.png"), headers=auth)
    assert missing.status_code == 404 and "1.png to 3.png" in missing.json()["message"]
    assert httpx2.get(template.replace("{+asset_path}", "1.png")).status_code == 401  # authenticated only
    carol = {"Authorization": f"Bearer {box.token('carol')}"}
    assert httpx2.get(template.replace("{+asset_path}", "1.png"), headers=carol).status_code in (403, 404)


def test_the_page_renderer_draws_text_pixels_into_a_valid_png() -> None:
    png = page_render.render_page("Hi", 1, "1024x1024")
    assert png.startswith(page_render.PNG_SIGNATURE)
    at, pixels = 8, b""
    while at < len(png):  # walk the chunks, checking each CRC
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(kind + data)
        if kind == b"IDAT":
            pixels += data
        at += 12 + length
    raw = zlib.decompress(pixels)
    assert len(raw) == 1024 * (1 + 128)
    assert any(b != 0xFF for b in raw[1::129]) is False  # the margin's left edge stays white
    assert raw.count(b"\x00") > 1024  # filter bytes, plus ink somewhere
    assert page_render.page_count("") == 1 and page_render.page_count("x\n" * 54) == 2
    with pytest.raises(ValueError, match=r"outside 1\.\.1"):
        page_render.render_page("x", 2, "1024x1024")


def test_images_are_their_own_representation_and_other_files_have_none(
    sdk: Sdk, box: RunningEmulator
) -> None:
    ada, finance = sdk("ada"), box.credentials["folders"]["Finance"]
    image = _tiny_png(16, 8)
    url = ada.uploads.preflight_file_upload_check(
        name="dot.png", parent=PreflightFileUploadCheckParent(id=finance)
    )
    made = _post(url.upload_url, url.upload_token, {"name": "dot.png", "parent": {"id": finance}}, image)
    file_id = made.json()["entries"][0]["id"]
    got = ada.files.get_file_by_id(file_id, fields=["representations"], x_rep_hints=PNG_HINTS)
    (rep,) = got.representations.entries
    assert rep.properties.paged == "false" and rep.status.state.value == "success"
    auth = {"Authorization": f"Bearer {box.token('ada')}"}
    served = httpx2.get(rep.content.url_template.replace("{+asset_path}", ""), headers=auth)
    assert served.status_code == 200 and served.content == image
    pdf = box.credentials["files"]["Contracts/MSA-Globex.pdf"]
    none = ada.files.get_file_by_id(pdf, fields=["representations"], x_rep_hints=PNG_HINTS)
    assert none.representations.entries == []
    everything = ada.files.get_file_by_id(
        box.credentials["files"]["Finance/q3-report.md"], fields=["representations"]
    )
    assert {e.properties.dimensions for e in everything.representations.entries} == {"1024x1024", "2048x2048"}


def test_malformed_rep_hints_are_a_bad_request(sdk: Sdk, box: RunningEmulator) -> None:
    with pytest.raises(BoxAPIError) as err:
        sdk("ada").files.get_file_by_id(
            box.credentials["files"]["Finance/q3-report.md"], fields=["representations"], x_rep_hints="png"
        )
    assert _code(err) == (400, "bad_request")
