-- The idempotency primitive's table (zerog_db.once), one in each service's schema.
-- A row is a claim while response IS NULL (claim_token and lease_until set), an answer after.
CREATE TABLE idempotency (
    scope text NOT NULL,
    request_id text NOT NULL,
    method text NOT NULL,
    fingerprint text NOT NULL,
    claim_token uuid,
    lease_until timestamptz,
    response bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT idempotency_pkey PRIMARY KEY (scope, request_id),
    CHECK ((response IS NULL) = (claim_token IS NOT NULL))
);
CREATE INDEX idempotency_created_at ON idempotency (created_at);
