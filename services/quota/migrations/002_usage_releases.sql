-- Usage given back (stored bytes of deleted objects), one row per caller's request_id so a
-- retried ReleaseUsage never lowers usage twice.
CREATE TABLE usage_releases (
    service      text NOT NULL,
    request_id   text NOT NULL,
    request_hash text NOT NULL,
    subject      text NOT NULL,
    -- {unit: amount given back}
    released     jsonb NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (service, request_id)
);
