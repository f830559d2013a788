-- Replay guard of wallet intents (zerog_signing.nonce_table_ddl("broker")).
CREATE TABLE IF NOT EXISTS broker.signing_nonces (
    address text NOT NULL,
    nonce text NOT NULL,
    signed_at timestamptz NOT NULL,
    seen_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (address, nonce)
);
CREATE INDEX IF NOT EXISTS signing_nonces_signed_at_idx
    ON broker.signing_nonces (signed_at);

