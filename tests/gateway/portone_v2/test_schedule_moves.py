"""A re-issuance's move of schedules against the V2 sandbox never brings back a charge the
caller revoked: not one revoked while the move was interrupted, nor one revoked between the
move's listing and its own revoke."""

from __future__ import annotations

import pytest

from billing_service.gateway import GatewayUnavailable
from billing_service.gateway.portone_v2.moves import MoveCalls
from billing_service.gateway.portone_v2.schedules import ScheduleCalls

from .test_schedules_with_sandbox import advance, order, window
from .test_with_sandbox import card


def test_a_caller_revoke_while_a_move_is_interrupted_stands(v2, client, monkeypatch):
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 10)])
    new = client.issue_billing_key("uid", card())
    real = MoveCalls._revoke_own
    calls = {"n": 0}

    def down_once(self, sid):
        calls["n"] += 1
        if calls["n"] == 1:  # the move's first revoke: PortOne unavailable, nothing revoked
            raise GatewayUnavailable("down")
        return real(self, sid)

    monkeypatch.setattr(MoveCalls, "_revoke_own", down_once)
    with pytest.raises(GatewayUnavailable):
        client.move_schedules("uid", new.provider_key)
    assert client.revoke_schedule("o-1").schedule_status == "revoked"

    assert client.move_schedules("uid", new.provider_key).moved == []  # the job's retry
    advance(v2, "P11D")
    assert client.get_schedule("o-1").payment_status != "paid"


def test_a_caller_revoke_between_listing_and_revoke_stands(v2, client, monkeypatch):
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 10)])
    new = client.issue_billing_key("uid", card())
    real = ScheduleCalls.pending_of

    def listed_then_caller_revokes(self, key, statuses=("SCHEDULED",)):
        records = real(self, key, statuses)
        if any(record["status"] == "SCHEDULED" for record in records):
            assert client.revoke_schedule("o-1").schedule_status == "revoked"
        return records

    monkeypatch.setattr(ScheduleCalls, "pending_of", listed_then_caller_revokes)
    assert client.move_schedules("uid", new.provider_key).moved == []
    assert client.get_schedule("o-1").schedule_status == "revoked"
    advance(v2, "P11D")
    assert client.get_schedule("o-1").payment_status != "paid"


def test_two_moves_close_together_lose_no_schedule(v2, client, monkeypatch):
    """The first re-issuance's move dies after revoking o-1, while the second's runs: each
    schedule has its own slot, so the second finishes o-1 and moves o-2; both charge once."""
    client.issue_billing_key("uid", card())
    client.schedule_charges("uid", [order("o-1", 10), order("o-2", 20)])
    second = client.issue_billing_key("uid", card())
    third = client.issue_billing_key("uid", card())
    real = MoveCalls._schedule_again
    calls = {"n": 0}

    def second_move_runs_then_first_dies(self, record, keep, channel):
        calls["n"] += 1
        if calls["n"] == 1:
            moved = client.move_schedules("uid", third.provider_key)
            assert [s.merchant_uid for s in moved.moved] == ["o-1", "o-2"]
            raise GatewayUnavailable("down")
        return real(self, record, keep, channel)

    monkeypatch.setattr(MoveCalls, "_schedule_again", second_move_runs_then_first_dies)
    with pytest.raises(GatewayUnavailable):
        client.move_schedules("uid", second.provider_key)
    assert client.move_schedules("uid", second.provider_key).moved == []  # the retry

    start, end = window()
    listed, _ = client.list_schedules("uid", start, end)
    assert sorted(s.merchant_uid for s in listed if s.schedule_status == "scheduled") == [
        "o-1",
        "o-2",
    ]
    advance(v2, "P21D")
    assert client.get_schedule("o-1").payment_status == "paid"
    assert client.get_schedule("o-2").payment_status == "paid"
