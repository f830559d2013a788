-- Rate limits enforced by inference and storage (issue 20): rules per tier, and permits granted
-- to the replicas that hold them locally.

-- A rule may name the tier it applies to; '' applies to every tier without a rule of its own.
ALTER TABLE rate_limits ADD COLUMN tier text NOT NULL DEFAULT '';
ALTER TABLE rate_limits DROP CONSTRAINT rate_limits_pkey;
ALTER TABLE rate_limits ADD PRIMARY KEY (method, tier, window_seconds);

-- Permits a holder took for a subject and method: each counts in every window of the method's
-- rules from granted_at on, as a call made at granted_at would, so all grants of all replicas
-- together never exceed a rule. Unused permits come back once (returned) and stop counting; the
-- holder uses none after expires_at.
CREATE TABLE rate_grants (
    grant_id uuid PRIMARY KEY,
    subject text NOT NULL,
    method text NOT NULL,
    -- The service that took it (only it may return it) and its replica.
    service text NOT NULL,
    holder text NOT NULL,
    permits bigint NOT NULL CHECK (permits > 0),
    returned bigint NOT NULL DEFAULT 0 CHECK (returned >= 0 AND returned <= permits),
    granted_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL
);

CREATE INDEX rate_grants_lookup ON rate_grants (subject, method, granted_at DESC);
CREATE INDEX rate_grants_age ON rate_grants (granted_at);
