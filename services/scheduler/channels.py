"""The delivery channels: webhook (httpx POST with an Idempotency-Key) and SMTP email."""

from __future__ import annotations

import json
from email.message import EmailMessage

import aiosmtplib
import httpx

from services.scheduler.config import SmtpSettings
from services.scheduler.store.outbox import Delivery


class SendFailed(Exception):
    """An attempt failed; `retryable` says whether trying again may help."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def payload(delivery: Delivery) -> dict[str, object]:
    """The JSON a webhook receives."""
    return {
        "delivery_id": delivery.id,
        "notification_id": delivery.notification_id,
        "user_id": delivery.user_id,
        "type": delivery.kind.value,
        "period": delivery.period_key,
        "title": delivery.title,
        "body": delivery.body,
        "degraded": delivery.degraded,
        "figures": delivery.figures,
        "created_at": delivery.created_at.isoformat(),
    }


class WebhookSender:
    """POSTs JSON; 2xx is success, 408/425/429/5xx and network errors are retried."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def send(self, delivery: Delivery, url: str) -> None:
        """One attempt; raises SendFailed."""
        try:
            response = await self._client.post(
                url,
                content=json.dumps(payload(delivery)),
                headers={
                    "Content-Type": "application/json",
                    # Receivers drop repeats of a delivery by this key (retries after a lost ack).
                    "Idempotency-Key": delivery.id,
                    "User-Agent": "zerog-scheduler/1",
                },
            )
        except httpx.HTTPError as error:
            raise SendFailed(f"webhook: {type(error).__name__}", retryable=True) from None
        if response.is_success:
            return
        retryable = response.status_code in (408, 425, 429) or response.status_code >= 500
        raise SendFailed(f"webhook: HTTP {response.status_code}", retryable)


class EmailSender:
    """Sends through the configured SMTP server; 4xx replies are retried, 5xx are final."""

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    @property
    def enabled(self) -> bool:
        return bool(self._settings.host)

    async def send(self, delivery: Delivery, address: str) -> None:
        """One attempt; raises SendFailed."""
        if not self.enabled:
            raise SendFailed("email: no SMTP_HOST configured", retryable=False)
        settings = self._settings
        message = EmailMessage()
        message["From"] = settings.sender
        message["To"] = address
        message["Subject"] = delivery.title
        # A stable Message-ID lets mail systems drop a repeat after a lost acknowledgement.
        message["Message-ID"] = f"<{delivery.id}@zerog.scheduler>"
        message["X-Zerog-Delivery-Id"] = delivery.id
        message.set_content(delivery.body)
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username or None,
                password=settings.password or None,
                start_tls=settings.starttls,
                timeout=settings.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused:
            raise SendFailed("email: recipient refused", retryable=False) from None
        except aiosmtplib.SMTPResponseException as error:
            raise SendFailed(f"email: SMTP {error.code}", retryable=error.code < 500) from None
        except (aiosmtplib.SMTPException, OSError) as error:
            raise SendFailed(f"email: {type(error).__name__}", retryable=True) from None
