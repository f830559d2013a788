"""Builds each user's notification: computed figures first, the model's narrative if it answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.scheduler import market
from services.scheduler.figures import Figures, day_figures, describe, pct, week_figures
from services.scheduler.model import Content, Kind, NewsItem, Snapshot, User, WorkItem
from services.scheduler.narrator import Narrator
from services.scheduler.store import outcomes, pushed, users
from zerog_db import Executor

_DEGRADED_NOTE = "(The written summary is unavailable right now; these are the figures.)"


@dataclass(frozen=True)
class Outcome:
    """What to do with one work item: send `content`, or skip for `reason`."""

    content: Content | None = None
    reason: str = ""
    channels: tuple[str, ...] = ()
    # (trading date, direction) to remember for performance alerts.
    alert: tuple[date, int] | None = None


@dataclass(frozen=True)
class BatchData:
    """Everything a batch of items needs, loaded with a few queries."""

    users: dict[str, User]
    snapshots: dict[str, Snapshot]
    week_ago: dict[str, Snapshot]
    # The newest stories of the last week about any symbol held in the batch.
    news: list[NewsItem]


@dataclass(frozen=True)
class MarketHours:
    """The exchange's zone and session."""

    time_zone: str
    open_minute: int
    close_minute: int


class Composer:
    """Turns a work item into an outcome; needs the pool, the narrator (optional) and the market."""

    def __init__(self, db: Executor, narrator: Narrator | None, market_hours: MarketHours) -> None:
        self._db = db
        self._narrator = narrator
        self._market = market_hours

    async def load(self, items: Sequence[WorkItem], now: datetime) -> BatchData:
        """Users and snapshots of a batch in bulk."""
        ids = list({item.user_id for item in items})
        week_ago: dict[str, Snapshot] = {}
        if any(item.kind is Kind.WEEKLY_SUMMARY for item in items):
            week_ago = await pushed.latest_snapshots(self._db, ids, now - timedelta(days=7))
        snapshots = await pushed.latest_snapshots(self._db, ids, now)
        held = sorted({p.symbol for s in snapshots.values() for p in s.positions})
        news = await pushed.news_for(self._db, held, now - timedelta(days=7), now, 500)
        return BatchData(await users.users_by_id(self._db, ids), snapshots, week_ago, news)

    async def compose(self, item: WorkItem, batch: BatchData, now: datetime) -> Outcome:
        """The outcome of one item (may call the model; never raises for inference trouble)."""
        user = batch.users.get(item.user_id)
        if user is None:
            return Outcome(reason="user deleted")
        if item.kind not in user.enabled:
            return Outcome(reason="notification disabled")
        channels = tuple(
            name
            for name, target in (("webhook", user.webhook_url), ("email", user.email))
            if target
        )
        if not channels:
            return Outcome(reason="no channel")
        snapshot = batch.snapshots.get(item.user_id)
        if snapshot is None:
            return Outcome(reason="no portfolio snapshot")
        if item.kind is Kind.PERFORMANCE_ALERT:
            return await self._alert(item, user, snapshot, channels, now)
        if item.kind is Kind.WEEKLY_SUMMARY:
            figures = week_figures(snapshot, batch.week_ago.get(item.user_id))
            title, label, days = "Your weekly summary", "This week", 7
        else:
            figures = day_figures(snapshot)
            title, label, days = "Your daily digest", "Today", 1
        held = {p.symbol for p in snapshot.positions}
        since = now - timedelta(days=days)
        news = [n for n in batch.news if n.published_at >= since and held & set(n.symbols)][:5]
        content = await self._write(item, title, describe(figures, label), news, figures)
        return Outcome(content, channels=channels)

    async def _alert(
        self,
        item: WorkItem,
        user: User,
        snapshot: Snapshot,
        channels: tuple[str, ...],
        now: datetime,
    ) -> Outcome:
        hours = self._market
        if not market.is_open(now, hours.time_zone, hours.open_minute, hours.close_minute):
            return Outcome(reason="market closed")
        today = market.trading_date(now, hours.time_zone)
        if market.trading_date(snapshot.as_of, hours.time_zone) != today:
            return Outcome(reason="no snapshot from today's session")
        figures = day_figures(snapshot)
        beyond = abs(figures.change_bps) >= user.alert_threshold_bps
        direction = (1 if figures.change_bps > 0 else -1) if beyond else 0
        before = await outcomes.alert_direction(self._db, item.user_id, today)
        if direction == 0 or direction == before:
            return Outcome(reason="threshold not crossed", alert=(today, direction))
        word = "up" if direction > 0 else "down"
        title = f"Portfolio {word} {pct(figures.change_bps)[1:]} today"
        lines = [
            *describe(figures, "Today"),
            f"Your alert threshold: {pct(user.alert_threshold_bps)[1:]}",
        ]
        content = await self._write(item, title, lines, [], figures)
        return Outcome(content, channels=channels, alert=(today, direction))

    async def _write(
        self,
        item: WorkItem,
        title: str,
        lines: list[str],
        news: list[NewsItem],
        figures: Figures,
    ) -> Content:
        news_lines = [f"- {n.headline} ({n.url})" if n.url else f"- {n.headline}" for n in news]
        facts = "\n".join([*lines, *(["News:", *news_lines] if news else [])])
        figures_dict = {**figures.as_dict(), "news_ids": [n.id for n in news]}
        if self._narrator is None:
            return Content(title, facts, degraded=False, figures=figures_dict)
        narrative = await self._narrator.narrate(f"scheduler:{item.id}", item.user_id, facts)
        if narrative is None:
            return Content(
                title, f"{facts}\n\n{_DEGRADED_NOTE}", degraded=True, figures=figures_dict
            )
        return Content(title, f"{facts}\n\n{narrative}", degraded=False, figures=figures_dict)
