-- Quota alerts read from the quota service's WatchAlerts stream. quota's alert id is the key, so
-- every replica may watch and each alert still becomes at most one notification; the largest id
-- stored is where a watch resumes.
CREATE TABLE quota_alerts (
    alert_id bigint PRIMARY KEY,
    subject text NOT NULL,
    -- '' when the subject is not a user ('tenant:...').
    user_id text NOT NULL,
    unit text NOT NULL,
    level text NOT NULL,
    period text NOT NULL,
    used bigint NOT NULL,
    limit_amount bigint NOT NULL,
    raised_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    -- 'notified', or why no notification was made.
    outcome text NOT NULL
);

-- A notification comes from a run's work item or from a quota alert, never both.
ALTER TABLE notifications ALTER COLUMN work_item_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN quota_alert_id bigint UNIQUE REFERENCES quota_alerts;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_source
    CHECK ((work_item_id IS NULL) <> (quota_alert_id IS NULL));
