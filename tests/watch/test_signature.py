"""Box's webhook signature scheme, cross-checked with the official SDK's `validate_message`."""

from __future__ import annotations

from datetime import UTC, datetime

from box_sdk_gen import WebhooksManager

from box_mcp.watch.signature import MAX_AGE, MAX_FUTURE, sign, verify

PRIMARY, SECONDARY = b"primary-key-of-the-app", b"secondary-key-of-the-app"
BODY = b'{"type":"webhook_event","trigger":"FILE.UPLOADED","source":{"type":"file","id":"12"}}'
NOW = 1_800_000_000.0


def _headers(stamp_at: float = NOW, primary: bytes = PRIMARY, secondary: bytes = SECONDARY) -> dict[str, str]:
    stamp = datetime.fromtimestamp(stamp_at, UTC).isoformat(timespec="seconds")
    return {
        "box-delivery-timestamp": stamp,
        "box-signature-primary": sign(primary, BODY, stamp),
        "box-signature-secondary": sign(secondary, BODY, stamp),
        "box-signature-version": "1",
        "box-signature-algorithm": "HmacSHA256",
    }


def test_a_delivery_signed_with_either_key_is_boxs_and_the_sdk_agrees() -> None:
    headers = _headers()
    assert verify(BODY, headers, [PRIMARY, SECONDARY], clock=lambda: NOW).key == "primary"
    rotated = verify(BODY, headers, [b"new-primary", SECONDARY], clock=lambda: NOW)
    assert rotated.ok and rotated.key == "secondary"
    live = _headers(datetime.now(UTC).timestamp())
    assert verify(BODY, live, [PRIMARY, SECONDARY]).ok
    assert WebhooksManager.validate_message(
        BODY.decode(), live, PRIMARY.decode(), secondary_key=SECONDARY.decode()
    )


def test_a_wrong_key_a_changed_body_or_no_signature_is_refused() -> None:
    headers = _headers()
    assert verify(BODY, headers, [b"other", b"keys"], clock=lambda: NOW).reason == "bad_signature"
    assert verify(BODY + b" ", headers, [PRIMARY, SECONDARY], clock=lambda: NOW).reason == "bad_signature"
    bare = {k: v for k, v in headers.items() if not k.startswith("box-signature-")}
    assert verify(BODY, bare, [PRIMARY], clock=lambda: NOW).reason == "no_signature"
    assert verify(BODY, headers | {"box-signature-version": "2"}, [PRIMARY], clock=lambda: NOW).reason == (
        "unsupported"
    )


def test_old_future_and_malformed_timestamps_are_refused() -> None:
    keys = [PRIMARY, SECONDARY]
    assert verify(BODY, _headers(NOW - MAX_AGE - 5), keys, clock=lambda: NOW).reason == "stale"
    assert verify(BODY, _headers(NOW - MAX_AGE + 5), keys, clock=lambda: NOW).ok
    assert verify(BODY, _headers(NOW + MAX_FUTURE + 5), keys, clock=lambda: NOW).reason == "future"
    headers = _headers()
    assert verify(BODY, headers | {"box-delivery-timestamp": "yesterday"}, keys).reason == "bad_timestamp"
    naive = headers | {"box-delivery-timestamp": "2027-01-15T08:00:00"}
    assert verify(BODY, naive, keys).reason == "bad_timestamp"
    assert (
        verify(BODY, {k: v for k, v in headers.items() if "timestamp" not in k}, keys).reason
        == "no_timestamp"
    )
