-- Limits, usage and two-phase reservations. Amounts are integers: bytes, tokens, micro-dollars.
-- Units: 'storage_bytes', 'compute_tokens', 'cost_micro_usd'. NULL limits mean unlimited.

CREATE TABLE tiers (
    name text PRIMARY KEY,
    storage_bytes bigint CHECK (storage_bytes >= 0),
    compute_tokens bigint CHECK (compute_tokens >= 0),
    cost_micro_usd bigint CHECK (cost_micro_usd >= 0)
);

-- Defaults: free 1 GiB / 100k tokens / $5 a month; premium 100 GiB / 10M tokens / $500;
-- custom starts as premium and is tailored per subject.
INSERT INTO tiers (name, storage_bytes, compute_tokens, cost_micro_usd) VALUES
    ('free', 1073741824, 100000, 5000000),
    ('premium', 107374182400, 10000000, 500000000),
    ('custom', 107374182400, 10000000, 500000000);

CREATE TABLE subjects (
    subject text PRIMARY KEY,
    tier text NOT NULL REFERENCES tiers (name),
    -- Overrides on the custom tier; NULL falls back to the tier's limit.
    storage_bytes bigint CHECK (storage_bytes >= 0),
    compute_tokens bigint CHECK (compute_tokens >= 0),
    cost_micro_usd bigint CHECK (cost_micro_usd >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per subject, unit and period. Storage counts for all time (period 'all');
-- tokens and cost per calendar month ('2026-11'), so a new month starts from zero.
CREATE TABLE usage (
    subject text NOT NULL,
    unit text NOT NULL,
    period text NOT NULL,
    used bigint NOT NULL DEFAULT 0 CHECK (used >= 0),
    reserved bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (subject, unit, period)
);

CREATE TABLE prices (
    unit text NOT NULL,
    price_key text NOT NULL DEFAULT '',
    micro_usd bigint NOT NULL CHECK (micro_usd >= 0),
    per_amount bigint NOT NULL CHECK (per_amount > 0),
    PRIMARY KEY (unit, price_key)
);

-- $0.10 per GB stored and $0.02 per 1K tokens.
INSERT INTO prices (unit, price_key, micro_usd, per_amount) VALUES
    ('storage_bytes', '', 100000, 1000000000),
    ('compute_tokens', '', 20000, 1000);

CREATE TABLE reservations (
    reservation_id uuid PRIMARY KEY,
    service text NOT NULL,
    request_id text NOT NULL,
    request_hash text NOT NULL,
    subject text NOT NULL,
    operation text NOT NULL DEFAULT '',
    period text NOT NULL,
    -- [{unit, amount, price_key, cost_micro_usd}] priced when reserved.
    items jsonb NOT NULL,
    cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
    state text NOT NULL CHECK (state IN ('reserved', 'committed', 'released', 'expired')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    finished_at timestamptz,
    -- What Commit recorded, so a retried Commit can be answered identically.
    committed_items jsonb,
    UNIQUE (service, request_id)
);

CREATE INDEX reservations_expiring ON reservations (expires_at) WHERE state = 'reserved';
CREATE INDEX reservations_by_subject ON reservations (subject) WHERE state = 'reserved';

CREATE TABLE cost_records (
    cost_record_id bigserial PRIMARY KEY,
    subject text NOT NULL,
    service text NOT NULL,
    operation text NOT NULL,
    items jsonb NOT NULL,
    cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
    reservation_id uuid UNIQUE REFERENCES reservations (reservation_id),
    metadata jsonb NOT NULL DEFAULT '{}',
    period text NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE INDEX cost_records_by_subject ON cost_records (subject, created_at DESC, cost_record_id DESC);

CREATE TABLE alerts (
    alert_id bigserial PRIMARY KEY,
    subject text NOT NULL,
    unit text NOT NULL,
    period text NOT NULL,
    level text NOT NULL CHECK (level IN ('warning', 'critical')),
    used bigint NOT NULL,
    limit_amount bigint NOT NULL,
    created_at timestamptz NOT NULL,
    -- Once per subject, unit, month and level, however many replicas see the crossing.
    UNIQUE (subject, unit, period, level)
);

CREATE TABLE rate_limits (
    method text NOT NULL,
    window_seconds integer NOT NULL CHECK (window_seconds > 0),
    max_requests bigint NOT NULL CHECK (max_requests >= 0),
    PRIMARY KEY (method, window_seconds)
);

-- A sliding-window log: one row per allowed call, pruned after the longest window.
CREATE TABLE rate_events (
    subject text NOT NULL,
    method text NOT NULL,
    at timestamptz NOT NULL
);

CREATE INDEX rate_events_lookup ON rate_events (subject, method, at DESC);
CREATE INDEX rate_events_age ON rate_events (at);
