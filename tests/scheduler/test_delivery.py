"""Acceptance 4 and 5: quiet hours defer then deliver, disabled notifications are never sent,
a webhook failing twice then succeeding receives exactly once; email through a real SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.scheduler.conftest import Scheduler, StartScheduler
from tests.scheduler.helpers import ALERT, add_user, push_snapshot
from tests.scheduler.receiver import WebhookReceiver
from tests.support import ManualClock
from zerog.scheduler.v1 import scheduler_service_pb2 as pb

EIGHT_UTC = datetime(2026, 3, 6, 8, 0, tzinfo=UTC)


async def _user_with_snapshot(scheduler: Scheduler, uid: str, clock: ManualClock, **prefs) -> None:
    await add_user(scheduler, uid, "UTC", **prefs)
    await push_snapshot(scheduler, uid, clock.now, [("ACME", "2", 10_000_000, 10_500_000)])


async def _deliveries(scheduler: Scheduler, uid: str) -> list[pb.Delivery]:
    response = await scheduler.stub.ListDeliveries(
        pb.ListDeliveriesRequest(user_id=uid), metadata=scheduler.as_service()
    )
    return list(response.deliveries)


async def test_quiet_hours_defer_then_deliver(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    # Quiet 07:30-09:00 local: the 08:00 digest waits until 09:00.
    url = f"{receiver.url}/quiet"
    await _user_with_snapshot(scheduler, "quiet", clock, webhook_url=url, quiet=(450, 540))
    clock.now = EIGHT_UTC
    await scheduler.tick()
    [held] = await _deliveries(scheduler, "quiet")
    assert held.state == pb.DELIVERY_STATE_DEFERRED
    assert held.next_attempt_at.ToDatetime(UTC) == datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    assert held.attempts == 0 and receiver.requests == []

    clock.advance(minutes=59)
    await scheduler.tick()
    assert receiver.requests == []
    clock.advance(minutes=1)
    await scheduler.tick()
    [sent] = await _deliveries(scheduler, "quiet")
    assert sent.state == pb.DELIVERY_STATE_SENT and sent.attempts == 1
    assert [r.path for r in receiver.accepted()] == ["/quiet"]
    assert receiver.requests[0].body["title"] == "Your daily digest"


async def test_disabled_notification_is_never_sent(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    await _user_with_snapshot(
        scheduler, "alerts-only", clock, webhook_url=f"{receiver.url}/a", enabled=[ALERT]
    )
    # Disabled after the digest was made but while it waited out quiet hours.
    await _user_with_snapshot(
        scheduler, "changed", clock, webhook_url=f"{receiver.url}/c", quiet=(450, 540)
    )
    clock.now = EIGHT_UTC
    await scheduler.tick()
    await add_user(scheduler, "changed", "UTC", webhook_url=f"{receiver.url}/c", enabled=[ALERT])
    trigger = await scheduler.stub.TriggerJob(
        pb.TriggerJobRequest(request_id="now", name="daily_digest"),
        metadata=scheduler.as_service("admin"),
    )
    clock.advance(hours=2)
    await scheduler.tick()
    assert trigger.run.users_total == 0
    assert await _deliveries(scheduler, "alerts-only") == []
    [suppressed] = await _deliveries(scheduler, "changed")
    assert suppressed.state == pb.DELIVERY_STATE_SUPPRESSED
    assert suppressed.last_error == "notification disabled"
    assert receiver.requests == []


async def test_webhook_failing_twice_then_succeeding_receives_once(
    scheduler: Scheduler, receiver: WebhookReceiver, clock: ManualClock
) -> None:
    receiver.failures["/flaky"] = 2
    await _user_with_snapshot(scheduler, "flaky", clock, webhook_url=f"{receiver.url}/flaky")
    clock.now = EIGHT_UTC
    await scheduler.tick()
    [first] = await _deliveries(scheduler, "flaky")
    assert first.state == pb.DELIVERY_STATE_PENDING and first.attempts == 1
    assert first.last_error == "webhook: HTTP 500"
    # Backoff: 30 s after the first failure, 60 s after the second.
    assert first.next_attempt_at.ToDatetime(UTC) == datetime(2026, 3, 6, 8, 0, 30, tzinfo=UTC)
    clock.advance(seconds=29)
    await scheduler.tick()
    assert len(receiver.requests) == 1
    clock.advance(seconds=1)
    await scheduler.tick()
    clock.advance(seconds=60)
    await scheduler.tick()
    clock.advance(hours=1)
    await scheduler.tick()
    assert [r.status for r in receiver.requests] == [500, 500, 200]
    assert len({r.idempotency_key for r in receiver.requests}) == 1
    [done] = await _deliveries(scheduler, "flaky")
    assert done.state == pb.DELIVERY_STATE_SENT and done.attempts == 3
    assert receiver.requests[0].idempotency_key == done.id


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Envelope] = []

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, _Inbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


async def test_email_goes_through_a_real_smtp_server(
    start_scheduler: StartScheduler,
    smtp_server: tuple[int, _Inbox],
    clock: ManualClock,
    db: asyncpg.Pool,
) -> None:
    port, inbox = smtp_server
    scheduler = await start_scheduler(SMTP_HOST="127.0.0.1", SMTP_PORT=str(port))
    await _user_with_snapshot(scheduler, "mailer", clock, email="ada@example.com")
    clock.now = EIGHT_UTC
    await scheduler.tick()
    [message] = inbox.messages
    assert message.rcpt_tos == ["ada@example.com"]
    assert isinstance(message.content, bytes)
    text = message.content.decode()
    assert "Subject: Your daily digest" in text
    assert "Portfolio value: $20.00" in text and "Today: -$1.00 (-4.76%)" in text
    [delivery] = await _deliveries(scheduler, "mailer")
    assert delivery.state == pb.DELIVERY_STATE_SENT and delivery.channel == pb.CHANNEL_EMAIL
    assert f"Message-ID: <{delivery.id}@zerog.scheduler>" in text
