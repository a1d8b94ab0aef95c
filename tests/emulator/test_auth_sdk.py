"""Each auth mode through the official SDK: developer token, CCG, JWT, OAuth + refresh, downscope, revoke."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
from box_sdk_gen import (
    BoxAPIError,
    BoxCCGAuth,
    BoxClient,
    BoxDeveloperTokenAuth,
    BoxJWTAuth,
    BoxOAuth,
    CCGConfig,
    JWTConfig,
    OAuthConfig,
)
from box_sdk_gen.box.oauth import GetAuthorizeUrlOptions
from joserfc import jwt
from joserfc.jwk import RSAKey

from box_mcp.emulator.auth import issue_token
from box_mcp.emulator.testing import RunningEmulator

from .conftest import network_session

Sdk = Callable[[str], BoxClient]


def service_account(box: RunningEmulator) -> dict[str, Any]:
    return next(u for u in box.credentials["users"] if u["role"] == "service_account")


def test_ccg_enterprise_token_acts_as_the_service_account(box: RunningEmulator) -> None:
    ccg = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], enterprise_id=ccg["enterprise_id"]))
    client = BoxClient(auth, network_session=network_session(box.base_url))
    assert client.users.get_user_me().id == service_account(box)["id"]


def test_ccg_user_subject_acts_as_that_user(box: RunningEmulator) -> None:
    ccg = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], user_id=box.user_id("carol")))
    client = BoxClient(auth, network_session=network_session(box.base_url))
    assert client.users.get_user_me().name == "Carol Counsel"


def test_ccg_with_a_wrong_secret_is_invalid_client(box: RunningEmulator) -> None:
    with httpx.Client(base_url=box.base_url) as http:
        reply = http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": box.credentials["ccg"]["client_id"],
                "client_secret": "wrong",
                "box_subject_type": "enterprise",
                "box_subject_id": box.credentials["enterprise_id"],
            },
        )
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_client"


def test_jwt_app_config_authenticates_as_service_account_and_as_user(box: RunningEmulator) -> None:
    config = JWTConfig.from_config_json_string(json.dumps(box.credentials["jwt_config"]))
    auth = BoxJWTAuth(config)
    client = BoxClient(auth, network_session=network_session(box.base_url))
    assert client.users.get_user_me().id == service_account(box)["id"]
    as_bob = BoxClient(
        auth.with_user_subject(box.user_id("bob")), network_session=network_session(box.base_url)
    )
    assert as_bob.users.get_user_me().name == "Bob Builder"


def _assertion(box: RunningEmulator, **overrides: Any) -> str:
    cfg = box.credentials["jwt_config"]
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_pem_private_key(
        cfg["boxAppSettings"]["appAuth"]["privateKey"].encode(),
        cfg["boxAppSettings"]["appAuth"]["passphrase"].encode(),
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    claims = {
        "iss": cfg["boxAppSettings"]["clientID"],
        "sub": cfg["enterpriseID"],
        "box_sub_type": "enterprise",
        "aud": "https://api.box.com/oauth2/token",
        "jti": uuid.uuid4().hex,
        "exp": int(time.time()) + 30,
    }
    kid = overrides.pop("kid", cfg["boxAppSettings"]["appAuth"]["publicKeyID"])
    claims.update(overrides)
    return jwt.encode({"alg": "RS256", "kid": kid}, claims, RSAKey.import_key(pem))


def _jwt_grant(box: RunningEmulator, assertion: str) -> httpx.Response:
    cfg = box.credentials["jwt_config"]["boxAppSettings"]
    with httpx.Client(base_url=box.base_url) as http:
        return http.post(
            "/oauth2/token",
            data={
                "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": assertion,
                "client_id": cfg["clientID"],
                "client_secret": cfg["clientSecret"],
            },
        )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"iss": "someone-else"}, "iss"),
        ({"aud": "https://example.com/token"}, "aud"),
        ({"jti": "short"}, "jti"),
        ({"exp": int(time.time()) + 3600}, "exp"),
        ({"exp": int(time.time()) - 10}, "exp"),
        ({"sub": "1"}, "sub"),
        ({"kid": "not-registered"}, "kid"),
    ],
)
def test_jwt_claim_rules_refuse_bad_assertions(
    box: RunningEmulator, overrides: dict[str, Any], message: str
) -> None:
    reply = _jwt_grant(box, _assertion(box, **overrides))
    assert reply.status_code == 400
    assert reply.json()["error"] == "invalid_grant"
    assert message in reply.json()["error_description"]


def test_jwt_jti_cannot_be_reused(box: RunningEmulator) -> None:
    assertion = _assertion(box)
    assert _jwt_grant(box, assertion).status_code == 200
    second = _jwt_grant(box, assertion)
    assert second.status_code == 400
    assert "jti" in second.json()["error_description"]


def _consent(box: RunningEmulator, url: str, user_id: str) -> str:
    """Play the browser: load the consent page, pick a user, approve; return the redirect Location."""
    url = url.replace("https://account.box.com", box.base_url)
    with httpx.Client() as http:
        page = http.get(url)
        assert page.status_code == 200 and "Grant access to Box" in page.text
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        reply = http.post(
            f"{box.base_url}/oauth2/authorize", data={**hidden, "user_id": user_id, "decision": "approve"}
        )
    assert reply.status_code == 302
    return reply.headers["location"]


def _oauth(box: RunningEmulator) -> BoxOAuth:
    oauth = box.credentials["oauth"]
    return BoxOAuth(OAuthConfig(oauth["client_id"], oauth["client_secret"]))


def test_oauth_code_flow_then_refresh_rotates_the_refresh_token(box: RunningEmulator) -> None:
    auth = _oauth(box)
    url = auth.get_authorize_url(
        options=GetAuthorizeUrlOptions(redirect_uri="http://127.0.0.1:8765/cb", state="xyz")
    )
    location = _consent(box, url, box.user_id("carol"))
    assert location.startswith("http://127.0.0.1:8765/cb?") and "state=xyz" in location
    code = re.search(r"code=([^&]+)", location).group(1)  # type: ignore[union-attr]
    session = network_session(box.base_url)
    first = auth.get_tokens_authorization_code_grant(code, network_session=session)
    client = BoxClient(auth, network_session=session)
    assert client.users.get_user_me().name == "Carol Counsel"
    second = auth.refresh_token(network_session=session)
    assert second.refresh_token != first.refresh_token
    assert client.users.get_user_me().name == "Carol Counsel"
    with httpx.Client(base_url=box.base_url) as http:
        reuse = http.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": box.credentials["oauth"]["client_id"],
                "client_secret": box.credentials["oauth"]["client_secret"],
            },
        )
    assert reuse.status_code == 400 and reuse.json()["error"] == "invalid_grant"


def test_authorization_code_is_single_use(box: RunningEmulator) -> None:
    auth = _oauth(box)
    location = _consent(box, auth.get_authorize_url(), box.user_id("ada"))
    code = re.search(r"code=([^&]+)", location).group(1)  # type: ignore[union-attr]
    session = network_session(box.base_url)
    auth.get_tokens_authorization_code_grant(code, network_session=session)
    with pytest.raises(BoxAPIError):
        auth.get_tokens_authorization_code_grant(code, network_session=session)


def test_pkce_s256_requires_the_matching_verifier(box: RunningEmulator) -> None:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    oauth = box.credentials["oauth"]
    url = (
        f"{box.base_url}/oauth2/authorize?response_type=code&client_id={oauth['client_id']}"
        f"&redirect_uri=http://localhost:9999/cb&code_challenge={challenge}&code_challenge_method=S256"
    )
    code = re.search(r"code=([^&]+)", _consent(box, url, box.user_id("ada"))).group(1)  # type: ignore[union-attr]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": oauth["client_id"],
        "client_secret": oauth["client_secret"],
    }
    with httpx.Client(base_url=box.base_url) as http:
        wrong = http.post("/oauth2/token", data={**form, "code_verifier": "x" * 50})
        assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
        right = http.post("/oauth2/token", data={**form, "code_verifier": verifier})
    assert right.status_code == 200 and right.json()["refresh_token"]


def test_consent_page_refuses_unregistered_redirect_uri(box: RunningEmulator) -> None:
    oauth = box.credentials["oauth"]
    with httpx.Client() as http:
        page = http.get(
            f"{box.base_url}/oauth2/authorize?response_type=code&client_id={oauth['client_id']}"
            "&redirect_uri=https://evil.example/cb"
        )
    assert page.status_code == 400 and "not registered" in page.text


def test_downscoped_token_is_bound_to_its_item_and_scopes(box: RunningEmulator) -> None:
    auth = BoxDeveloperTokenAuth(token=box.token("ada"))
    readme = box.credentials["files"]["Engineering/README.md"]
    small = auth.downscope_token(
        ["item_preview"],
        resource=f"https://api.box.com/2.0/files/{readme}",
        network_session=network_session(box.base_url),
    )
    assert small.restricted_to and small.restricted_to[0].scope == "item_preview"
    client = BoxClient(
        BoxDeveloperTokenAuth(token=small.access_token), network_session=network_session(box.base_url)
    )
    assert client.files.get_file_by_id(readme).name == "README.md"
    with pytest.raises(BoxAPIError) as other:
        client.files.get_file_by_id(box.credentials["files"]["Engineering/design.md"])
    assert other.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError) as wider:
        client.downloads.download_file(readme)
    assert wider.value.response_info.status_code == 403
    assert wider.value.response_info.code == "insufficient_scope"


def test_downscoping_cannot_widen_a_downscoped_token(box: RunningEmulator) -> None:
    auth = BoxDeveloperTokenAuth(token=box.token("ada"))
    small = auth.downscope_token(["item_preview"], network_session=network_session(box.base_url))
    with pytest.raises(BoxAPIError):
        BoxDeveloperTokenAuth(token=small.access_token).downscope_token(
            ["item_preview", "item_delete"], network_session=network_session(box.base_url)
        )


def test_revoked_token_gets_401(box: RunningEmulator) -> None:
    ccg = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], enterprise_id=ccg["enterprise_id"]))
    token = auth.retrieve_token(network_session=network_session(box.base_url)).access_token
    auth.revoke_token(network_session=network_session(box.base_url))
    with httpx.Client(base_url=box.base_url) as http:
        reply = http.get("/2.0/users/me", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 401
    assert reply.json()["code"] == "invalid_token"
    assert "invalid_token" in reply.headers["www-authenticate"]


def test_expired_token_gets_401_with_www_authenticate(box: RunningEmulator) -> None:
    store = box.emulator.store
    with store.tx():
        token = issue_token(
            store, user_id=box.user_id("ada"), grant="developer", scopes={"root_readwrite"}, ttl=-1
        )
    with httpx.Client(base_url=box.base_url) as http:
        reply = http.get("/2.0/folders/0", headers={"Authorization": f"Bearer {token}"})
        missing = http.get("/2.0/folders/0")
    assert reply.status_code == 401 and reply.json()["code"] == "invalid_token"
    assert reply.headers["www-authenticate"].startswith("Bearer realm=")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="Service"'


def test_as_user_lets_an_admin_act_as_a_managed_user_but_not_a_regular_user(
    sdk: Sdk, box: RunningEmulator
) -> None:
    with httpx.Client(base_url=box.base_url) as http:
        as_bob = http.get(
            "/2.0/users/me",
            headers={"Authorization": f"Bearer {box.token('ada')}", "As-User": box.user_id("bob")},
        )
        refused = http.get(
            "/2.0/users/me",
            headers={"Authorization": f"Bearer {box.token('bob')}", "As-User": box.user_id("carol")},
        )
    assert as_bob.status_code == 200 and as_bob.json()["name"] == "Bob Builder"
    assert refused.status_code == 403


@pytest.mark.slow  # the SDK waits ~2.5 s before it retries after the 401
def test_sdk_refreshes_an_expired_ccg_token_after_the_401(box: RunningEmulator) -> None:
    ccg = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], enterprise_id=ccg["enterprise_id"]))
    client = BoxClient(auth, network_session=network_session(box.base_url))
    first = auth.retrieve_token(network_session=network_session(box.base_url)).access_token
    store = box.emulator.store
    store.execute("UPDATE tokens SET expires_at = 0 WHERE kind = 'access' AND grant = 'client_credentials'")
    assert client.users.get_user_me().id == service_account(box)["id"]  # 401, refresh, retry
    assert auth.retrieve_token(network_session=network_session(box.base_url)).access_token != first


def test_token_lifetime_is_configurable() -> None:
    from box_mcp.emulator.testing import running_emulator

    with running_emulator(token_ttl=120) as emu, httpx.Client(base_url=emu.base_url) as http:
        ccg = emu.credentials["ccg"]
        reply = http.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": ccg["client_id"],
                "client_secret": ccg["client_secret"],
                "box_subject_type": "enterprise",
                "box_subject_id": ccg["enterprise_id"],
            },
        )
    assert reply.json()["expires_in"] == 120


def test_downscoping_to_a_shared_link_binds_the_token_to_that_item(box: RunningEmulator) -> None:
    readme = box.credentials["files"]["Engineering/README.md"]
    auth = BoxDeveloperTokenAuth(token=box.token("bob"))
    small = auth.downscope_token(
        ["item_preview"],
        shared_link=f"{box.base_url}/s/acmeengineeringreadme0001",
        network_session=network_session(box.base_url),
    )
    client = BoxClient(
        BoxDeveloperTokenAuth(token=small.access_token), network_session=network_session(box.base_url)
    )
    assert client.files.get_file_by_id(readme).name == "README.md"
    with pytest.raises(BoxAPIError) as other:
        client.files.get_file_by_id(box.credentials["files"]["Engineering/design.md"])
    assert other.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError):
        auth.downscope_token(
            ["item_preview"],
            shared_link=f"{box.base_url}/s/no-such-link",
            network_session=network_session(box.base_url),
        )


def test_a_client_cannot_revoke_another_clients_token(box: RunningEmulator) -> None:
    ccg = box.credentials["ccg"]
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], enterprise_id=ccg["enterprise_id"]))
    token = auth.retrieve_token(network_session=network_session(box.base_url)).access_token
    oauth = box.credentials["oauth"]
    with httpx.Client(base_url=box.base_url) as http:
        reply = http.post(
            "/oauth2/revoke",
            data={"client_id": oauth["client_id"], "client_secret": oauth["client_secret"], "token": token},
        )
        assert reply.status_code == 200
        assert http.get("/2.0/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_consent_cannot_sign_in_as_the_service_account(box: RunningEmulator) -> None:
    auth = _oauth(box)
    url = auth.get_authorize_url().replace("https://account.box.com", box.base_url)
    with httpx.Client() as http:
        page = http.get(url)
        hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
        assert service_account(box)["name"] not in page.text
        reply = http.post(
            f"{box.base_url}/oauth2/authorize",
            data={**hidden, "user_id": service_account(box)["id"], "decision": "approve"},
        )
    assert reply.status_code == 400 and "location" not in reply.headers
