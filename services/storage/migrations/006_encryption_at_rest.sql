-- Encryption at rest (libs/zerog_storage/at_rest.py, docs/storage.md). Each namespace's data
-- key, wrapped by the master key (STORAGE_MASTER_KEY). Deleting the namespace deletes this row,
-- and with it every way to read the namespace's copies on 0G Storage.
CREATE TABLE namespace_keys (
    namespace  text PRIMARY KEY REFERENCES namespaces (name),
    wrapped    bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- How a version's bytes are stored: 'plain' (put before encryption at rest: its content row's
-- bytes are the object's) or 'zge1' (sealed under the namespace key; the content row holds the
-- sealed bytes' size and SHA-256, these columns the plaintext's). Old replicas during a rollout
-- insert plaintext versions, which the default labels correctly.
ALTER TABLE objects ADD COLUMN encryption text NOT NULL DEFAULT 'plain'
    CHECK (encryption IN ('plain', 'zge1'));
ALTER TABLE objects ADD COLUMN plain_size bigint CHECK (plain_size >= 0);
ALTER TABLE objects ADD COLUMN plain_sha256 bytea CHECK (length(plain_sha256) = 32);
