"""Webhooks through the official SDK: CRUD, and real signed deliveries to a loopback receiver that the
SDK's `WebhooksManager.validate_message` accepts, with retries after failures."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from box_sdk_gen import (
    BaseUrls,
    BoxAPIError,
    BoxCCGAuth,
    BoxClient,
    CCGConfig,
    NetworkSession,
    WebhooksManager,
)
from box_sdk_gen.managers.comments import CreateCommentItem, CreateCommentItemTypeField
from box_sdk_gen.managers.file_metadata import CreateFileMetadataByIdScope
from box_sdk_gen.managers.shared_links_files import AddShareLinkToFileSharedLink
from box_sdk_gen.managers.uploads import UploadFileAttributes, UploadFileAttributesParentField
from box_sdk_gen.managers.user_collaborations import (
    CreateCollaborationAccessibleBy,
    CreateCollaborationAccessibleByTypeField,
    CreateCollaborationItem,
    CreateCollaborationItemTypeField,
    CreateCollaborationRole,
)
from box_sdk_gen.managers.webhooks import (
    CreateWebhookTarget,
    CreateWebhookTargetTypeField,
    CreateWebhookTriggers,
)

from box_mcp.emulator.testing import RunningEmulator
from box_mcp.emulator.webhook_delivery import (
    configure_delivery,
    delivery_attempts,
    observe_deliveries,
    set_keys,
    settings_from_env,
)

pytestmark = pytest.mark.own_emulator  # deliveries outlive a test on the server loop: one server each

Sdk = Callable[[str], BoxClient]
WAIT = 15.0


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    hits: int = 0
    delivered: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP endpoint that answers 500 to the first `fail_first` posts, then 200."""
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            state.hits += 1
            ok = state.hits > state.fail_first
            if ok:  # recorded before answering: the emulator's observers run once it has our answer
                state.received.append((body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(200 if ok else 500)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if ok:
                state.delivered.set()

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/box-hook"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _upload(client: BoxClient, folder_id: str, name: str) -> str:
    files = client.uploads.upload_file(
        UploadFileAttributes(name=name, parent=UploadFileAttributesParentField(id=folder_id)),
        io.BytesIO(b"data"),
    )
    assert files.entries
    return files.entries[0].id


def test_upload_delivers_a_signed_payload_the_sdk_accepts(
    sdk: Sdk, box: RunningEmulator, receiver: Receiver
) -> None:
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.05)
    ada = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    hook = ada.webhooks.create_webhook(
        CreateWebhookTarget(id=finance, type=CreateWebhookTargetTypeField.FOLDER),
        receiver.url,
        [CreateWebhookTriggers.FILE_UPLOADED],
    )
    file_id = _upload(ada, finance, "invoice.txt")
    assert receiver.delivered.wait(WAIT), "no webhook delivery arrived"
    body, headers = receiver.received[0]
    keys = box.credentials["webhook_keys"]
    assert WebhooksManager.validate_message(
        body.decode(), headers, keys["primary"], secondary_key=keys["secondary"], max_age=600
    )
    assert WebhooksManager.validate_message(
        body.decode(), headers, "wrong-key", secondary_key=keys["secondary"]
    )
    assert not WebhooksManager.validate_message(
        body.decode().replace("invoice", "invoicf"), headers, keys["primary"]
    )
    assert headers["box-signature-version"] == "1" and headers["box-signature-algorithm"] == "HmacSHA256"
    assert headers["box-delivery-id"]
    payload = json.loads(body)
    assert payload["trigger"] == "FILE.UPLOADED" and payload["webhook"]["id"] == hook.id
    assert payload["source"]["id"] == file_id and payload["source"]["name"] == "invoice.txt"


def test_failed_deliveries_are_retried_until_accepted(
    sdk: Sdk, box: RunningEmulator, receiver: Receiver
) -> None:
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.05)
    receiver.fail_first = 2
    accepted = threading.Event()
    observe_deliveries(box.emulator.store, lambda attempt: attempt["status_code"] == 200 and accepted.set())
    ada = sdk("ada")
    hr = box.credentials["folders"]["HR"]
    hook = ada.webhooks.create_webhook(
        CreateWebhookTarget(id=hr, type=CreateWebhookTargetTypeField.FOLDER),
        receiver.url,
        [CreateWebhookTriggers.FILE_UPLOADED],
    )
    _upload(ada, hr, "policy.md")
    assert accepted.wait(WAIT)
    attempts = delivery_attempts(box.emulator.store, hook.id)
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert len({a["delivery_id"] for a in attempts}) == 1


def test_webhook_crud_and_bad_input(sdk: Sdk, box: RunningEmulator, receiver: Receiver) -> None:
    ada = sdk("ada")
    file_id = box.credentials["files"]["Engineering/README.md"]
    hook = ada.webhooks.create_webhook(
        CreateWebhookTarget(id=file_id, type=CreateWebhookTargetTypeField.FILE),
        receiver.url,
        [CreateWebhookTriggers.FILE_DOWNLOADED, CreateWebhookTriggers.COMMENT_CREATED],
    )
    assert [w.id for w in ada.webhooks.get_webhooks().entries or []] == [hook.id]
    fetched = ada.webhooks.get_webhook_by_id(hook.id)
    assert fetched.target is not None and fetched.target.id == file_id
    updated = ada.webhooks.update_webhook_by_id(hook.id, triggers=[CreateWebhookTriggers.FILE_TRASHED])
    assert list(updated.triggers or []) == ["FILE.TRASHED"]
    with pytest.raises(BoxAPIError) as err:  # another user does not see Ada's webhook
        sdk("bob").webhooks.get_webhook_by_id(hook.id)
    assert err.value.response_info.status_code == 404
    with pytest.raises(BoxAPIError) as err:
        ada.webhooks.create_webhook(
            CreateWebhookTarget(id=file_id, type=CreateWebhookTargetTypeField.FILE),
            "http://example.com/hook",
            [CreateWebhookTriggers.FILE_DOWNLOADED],
        )
    assert err.value.response_info.status_code == 400  # plain http only for loopback receivers
    with pytest.raises(BoxAPIError) as err:
        ada.webhooks.create_webhook(
            CreateWebhookTarget(id=file_id, type=CreateWebhookTargetTypeField.FILE),
            receiver.url,
            [CreateWebhookTriggers.FILE_DOWNLOADED],
        )
    assert err.value.response_info.status_code == 409
    ada.webhooks.delete_webhook_by_id(hook.id)
    assert ada.webhooks.get_webhooks().entries == []


def test_collaboration_metadata_share_comment_and_trash_triggers_deliver(
    sdk: Sdk, box: RunningEmulator, receiver: Receiver
) -> None:
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.05)
    wanted = {
        "COLLABORATION.CREATED",
        "METADATA_INSTANCE.CREATED",
        "SHARED_LINK.CREATED",
        "COMMENT.CREATED",
        "FILE.TRASHED",
    }
    all_in = threading.Event()
    observe_deliveries(
        box.emulator.store,
        lambda _: (
            len({json.loads(b)["trigger"] for b, _h in receiver.received}) >= len(wanted) and all_in.set()
        ),
    )
    ada = sdk("ada")
    contracts = box.credentials["folders"]["Contracts"]
    nda = box.credentials["files"]["Contracts/NDA-Initech.pdf"]
    ada.webhooks.create_webhook(
        CreateWebhookTarget(id=contracts, type=CreateWebhookTargetTypeField.FOLDER),
        receiver.url,
        [CreateWebhookTriggers(t) for t in sorted(wanted)],
    )
    ada.user_collaborations.create_collaboration(
        CreateCollaborationItem(type=CreateCollaborationItemTypeField.FOLDER, id=contracts),
        CreateCollaborationAccessibleBy(
            type=CreateCollaborationAccessibleByTypeField.USER, id=box.user_id("bob")
        ),
        CreateCollaborationRole.VIEWER,
    )
    ada.file_metadata.create_file_metadata_by_id(
        box.credentials["files"]["Contracts/Inbox/SOW-Umbrella-draft.pdf"],
        CreateFileMetadataByIdScope.ENTERPRISE,
        "contract",
        {"counterparty": "Umbrella Corp"},
    )
    ada.shared_links_files.add_share_link_to_file(
        nda, "shared_link", shared_link=AddShareLinkToFileSharedLink()
    )
    ada.comments.create_comment(
        "Renewal due", CreateCommentItem(id=nda, type=CreateCommentItemTypeField.FILE)
    )
    ada.files.delete_file_by_id(nda)
    assert all_in.wait(WAIT), f"deliveries seen: {[json.loads(b)['trigger'] for b, _ in receiver.received]}"
    keys = box.credentials["webhook_keys"]
    for body, headers in receiver.received:
        assert WebhooksManager.validate_message(body.decode(), headers, keys["primary"])
    triggers = {json.loads(b)["trigger"] for b, _ in receiver.received}
    assert triggers == wanted
    trashed = next(json.loads(b) for b, _ in receiver.received if json.loads(b)["trigger"] == "FILE.TRASHED")
    assert trashed["source"]["id"] == nda


def test_each_app_signs_with_its_own_keys(box: RunningEmulator, receiver: Receiver) -> None:
    """A webhook made through the CCG app is signed with that app's keys, not the default pair."""
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.05)
    ccg = box.credentials["ccg"]
    set_keys(box.emulator.store, ccg["client_id"], "ccg-primary-key-0001", "ccg-secondary-key-0001")
    auth = BoxCCGAuth(CCGConfig(ccg["client_id"], ccg["client_secret"], user_id=box.user_id("carol")))
    base = box.base_url
    carol = BoxClient(
        auth,
        network_session=NetworkSession(
            base_urls=BaseUrls(base_url=base, upload_url=f"{base}/api", oauth_2_url=f"{base}/oauth2")
        ),
    )
    inbox = box.credentials["folders"]["Contracts/Inbox"]
    carol.webhooks.create_webhook(
        CreateWebhookTarget(id=inbox, type=CreateWebhookTargetTypeField.FOLDER),
        receiver.url,
        [CreateWebhookTriggers.FILE_UPLOADED],
    )
    _upload(carol, inbox, "redline.txt")
    assert receiver.delivered.wait(WAIT)
    body, headers = receiver.received[0]
    assert WebhooksManager.validate_message(body.decode(), headers, "ccg-primary-key-0001")
    default = box.credentials["webhook_keys"]
    assert not WebhooksManager.validate_message(
        body.decode(), headers, default["primary"], secondary_key=default["secondary"]
    )


def test_delivery_settings_come_from_the_environment_within_bounds() -> None:
    assert settings_from_env({}).max_attempts == 10
    tuned = settings_from_env({"BOX_EMULATOR_WEBHOOK_ATTEMPTS": "50", "BOX_EMULATOR_WEBHOOK_BACKOFF": "0.5"})
    assert tuned.max_attempts == 10 and tuned.base_delay == 0.5  # Box never retries more than 10 times
    assert settings_from_env({"BOX_EMULATOR_WEBHOOK_ATTEMPTS": "two"}).max_attempts == 10


def test_an_unreachable_receiver_gets_a_bounded_number_of_attempts(sdk: Sdk, box: RunningEmulator) -> None:
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.02, max_attempts=3, timeout=2)
    gave_up = threading.Event()
    observe_deliveries(box.emulator.store, lambda attempt: attempt["attempt"] == 3 and gave_up.set())
    with socket.socket() as probe:  # a loopback port with nothing listening on it
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}/hook"
    ada = sdk("ada")
    finance = box.credentials["folders"]["Finance"]
    hook = ada.webhooks.create_webhook(
        CreateWebhookTarget(id=finance, type=CreateWebhookTargetTypeField.FOLDER),
        dead,
        [CreateWebhookTriggers.FILE_UPLOADED],
    )
    _upload(ada, finance, "lost.txt")  # the upload itself is not held up by the failing receiver
    assert gave_up.wait(WAIT)
    attempts = delivery_attempts(box.emulator.store, hook.id)
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["status_code"] is None and a["error"] for a in attempts)


def test_deleting_the_target_for_good_retires_its_webhook(
    sdk: Sdk, box: RunningEmulator, receiver: Receiver
) -> None:
    configure_delivery(box.emulator.store, base_delay=0.01, max_delay=0.05)
    both = threading.Event()
    observe_deliveries(box.emulator.store, lambda _: len(receiver.received) >= 2 and both.set())
    ada = sdk("ada")
    file_id = _upload(ada, box.credentials["folders"]["Finance"], "shred-me.txt")
    hook = ada.webhooks.create_webhook(
        CreateWebhookTarget(id=file_id, type=CreateWebhookTargetTypeField.FILE),
        receiver.url,
        [CreateWebhookTriggers.FILE_DELETED, CreateWebhookTriggers.WEBHOOK_DELETED],
    )
    ada.files.delete_file_by_id(file_id)
    ada.trashed_files.delete_trashed_file_by_id(file_id)
    assert both.wait(WAIT)
    assert sorted(json.loads(body)["trigger"] for body, _ in receiver.received) == [
        "FILE.DELETED",
        "WEBHOOK.DELETED",
    ]
    with pytest.raises(BoxAPIError) as err:
        ada.webhooks.get_webhook_by_id(hook.id)
    assert err.value.response_info.status_code == 404
