"""Which Box identity a call record names: the broker's credentials hook maps the policy's acts_as."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import ValidationError

from box_mcp.broker.broker import IdentitySpec
from box_mcp.broker.clients import BrokerCredentials
from box_mcp.broker.config import BrokerSettings
from box_mcp.broker.credentials import ClientCredentials
from box_mcp.identity import ActingAs


def hook(service: Any, identities: dict[str, IdentitySpec]) -> BrokerCredentials:
    broker = SimpleNamespace(settings=BrokerSettings(service_account=service))
    return BrokerCredentials(broker, box=None, identities=lambda agent, person: identities[agent])  # type: ignore[arg-type]


def test_each_kind_of_identity_is_named_without_its_secret() -> None:
    service = ClientCredentials("cid", "s3cret-value", subject_type="enterprise", subject_id="555")
    credentials = hook(
        service,
        {
            "dev": IdentitySpec(kind="developer_token"),
            "svc": IdentitySpec(kind="service_account"),
            "ada": IdentitySpec(kind="as_user", as_user="777"),
            "bob": IdentitySpec(kind="user_grant", label="bob"),
            "anon": IdentitySpec(kind="user_grant"),
        },
    )
    assert credentials.acting_as("dev") == ActingAs(kind="developer_token")
    assert credentials.acting_as("svc") == ActingAs(kind="service_account", enterprise_id="555")
    assert credentials.acting_as("ada") == ActingAs(kind="as_user", user_id="777")
    assert credentials.acting_as("bob") == ActingAs(kind="user_grant", label="bob")
    assert credentials.acting_as("anon") == ActingAs(kind="user_grant", label="default")
    assert "s3cret" not in repr([credentials.acting_as(a) for a in ("dev", "svc", "ada", "bob")])


def test_an_app_configured_to_act_as_one_user_names_that_user() -> None:
    service = ClientCredentials("cid", "secret", subject_type="user", subject_id="31")
    credentials = hook(service, {"a": IdentitySpec(kind="service_account")})
    assert credentials.acting_as("a") == ActingAs(kind="service_account", user_id="31")


def test_an_acting_as_is_a_closed_frozen_value() -> None:
    who = ActingAs(kind="as_user", user_id="7")
    with pytest.raises(ValidationError):
        ActingAs(kind="root")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ActingAs(kind="as_user", token="abc")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        who.user_id = "8"  # type: ignore[misc]
    assert hash(who) == hash(ActingAs(kind="as_user", user_id="7"))
