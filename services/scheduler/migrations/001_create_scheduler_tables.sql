-- Jobs, users and their data, runs with per-user work items, notifications and the outbox.
-- Money is in micro-dollars (bigint). Times come from the scheduler's clock (timestamptz).

CREATE TABLE jobs (
    name text PRIMARY KEY,
    kind text NOT NULL,
    cron text NOT NULL,
    -- '' means each user's own time zone.
    time_zone text NOT NULL,
    misfire_grace_seconds integer NOT NULL CHECK (misfire_grace_seconds > 0),
    paused boolean NOT NULL DEFAULT false,
    -- Fire times before this are never run: set when the job is first seen and on resume,
    -- so a new deployment or a resumed job does not catch up periods it never owned.
    not_before timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE users (
    user_id text PRIMARY KEY,
    time_zone text NOT NULL,
    quiet_start_minute integer CHECK (quiet_start_minute BETWEEN 0 AND 1439),
    quiet_end_minute integer CHECK (quiet_end_minute BETWEEN 0 AND 1439),
    enabled text[] NOT NULL DEFAULT '{}',
    webhook_url text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    alert_threshold_bps integer NOT NULL CHECK (alert_threshold_bps > 0),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX users_time_zone ON users (time_zone);

CREATE TABLE snapshots (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL REFERENCES users ON DELETE CASCADE,
    request_id text NOT NULL,
    as_of timestamptz NOT NULL,
    cash_micro_usd bigint NOT NULL,
    positions jsonb NOT NULL,
    UNIQUE (user_id, request_id)
);
CREATE INDEX snapshots_latest ON snapshots (user_id, as_of DESC);

CREATE TABLE news (
    id text PRIMARY KEY,
    symbols text[] NOT NULL,
    headline text NOT NULL,
    summary text NOT NULL,
    url text NOT NULL,
    published_at timestamptz NOT NULL
);
CREATE INDEX news_symbols ON news USING gin (symbols);
CREATE INDEX news_published ON news (published_at DESC);

CREATE TABLE runs (
    id bigserial PRIMARY KEY,
    job text NOT NULL REFERENCES jobs,
    -- One run per job and period, whichever replica gets there first.
    period text NOT NULL,
    scheduled_for timestamptz NOT NULL,
    trigger text NOT NULL,
    batch_size integer NOT NULL,
    concurrency_limit integer NOT NULL,
    max_concurrency integer NOT NULL DEFAULT 0,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL,
    finished_at timestamptz,
    UNIQUE (job, period)
);
CREATE INDEX runs_unfinished ON runs (id) WHERE finished_at IS NULL;

CREATE TABLE work_items (
    id bigserial PRIMARY KEY,
    run_id bigint NOT NULL REFERENCES runs,
    job text NOT NULL,
    user_id text NOT NULL,
    -- The user's local fire time ('2026-03-08T08:00'): one notification per user and period,
    -- even across runs, replicas and time zone changes.
    period_key text NOT NULL,
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'skipped', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    available_at timestamptz NOT NULL,
    lease_until timestamptz,
    lease_token uuid,
    last_error text NOT NULL DEFAULT '',
    degraded boolean NOT NULL DEFAULT false,
    finished_at timestamptz,
    UNIQUE (job, user_id, period_key)
);
CREATE INDEX work_items_open ON work_items (available_at, id) WHERE state IN ('pending', 'running');
CREATE INDEX work_items_run ON work_items (run_id, state);

-- Whether each user's day change was past their alert threshold at the last check, so an alert
-- fires when the threshold is crossed, not every hour while it stays crossed.
CREATE TABLE alert_state (
    user_id text PRIMARY KEY REFERENCES users ON DELETE CASCADE,
    trading_date date NOT NULL,
    direction integer NOT NULL CHECK (direction IN (-1, 0, 1)),
    updated_at timestamptz NOT NULL
);

CREATE TABLE notifications (
    id bigserial PRIMARY KEY,
    work_item_id bigint NOT NULL UNIQUE REFERENCES work_items,
    user_id text NOT NULL,
    job text NOT NULL,
    kind text NOT NULL,
    period_key text NOT NULL,
    title text NOT NULL,
    body text NOT NULL,
    degraded boolean NOT NULL,
    figures jsonb NOT NULL,
    created_at timestamptz NOT NULL
);

-- The outbox: one delivery per notification and channel. The target (URL, address) is read
-- from the user's preferences when sending, so a changed channel or a deleted user is honoured.
CREATE TABLE deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    notification_id bigint NOT NULL REFERENCES notifications,
    user_id text NOT NULL,
    channel text NOT NULL CHECK (channel IN ('webhook', 'email')),
    state text NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'deferred', 'sent', 'failed', 'suppressed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    lease_until timestamptz,
    delivered_at timestamptz,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    UNIQUE (notification_id, channel)
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE state IN ('pending', 'deferred');
CREATE INDEX deliveries_user ON deliveries (user_id, created_at DESC);
