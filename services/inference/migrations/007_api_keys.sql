-- Bearer keys of the OpenAI-compatible HTTP endpoint (issue 19). Only the SHA-256 of a key's
-- secret is kept: the secret is shown once, when the key is made. Every HTTP call looks its key
-- up by that hash, so a revoked key is refused at once on every replica.
CREATE TABLE inference.api_keys (
    key_id text PRIMARY KEY,
    secret_sha256 bytea NOT NULL UNIQUE,
    subject text NOT NULL,
    name text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    revoked_at timestamptz
);

CREATE INDEX api_keys_by_subject ON inference.api_keys (subject, created_at DESC);
