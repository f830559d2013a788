-- The broker's records. Money is numeric(78,0) neuron (uint256 fits); never floats.

-- Every transaction the broker sent: recorded before broadcast, updated with its receipt.
CREATE TABLE transactions (
    tx_hash text PRIMARY KEY,
    purpose text NOT NULL,
    request_id text NOT NULL DEFAULT '',
    sender text NOT NULL,
    to_address text NOT NULL,
    nonce bigint NOT NULL,
    value_neuron numeric(78, 0) NOT NULL,
    gas_limit bigint NOT NULL,
    gas_used bigint NOT NULL DEFAULT 0,
    effective_gas_price numeric(78, 0) NOT NULL DEFAULT 0,
    block_number bigint NOT NULL DEFAULT 0,
    status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_request_idx ON transactions (request_id);
CREATE INDEX transactions_created_idx ON transactions (created_at DESC, tx_hash);

-- Idempotency: one row per request_id; the first result is replayed to retries.
CREATE TABLE operations (
    request_id text PRIMARY KEY,
    method text NOT NULL,
    fingerprint text NOT NULL,
    state text NOT NULL CHECK (state IN ('running', 'done')),
    response bytea,
    lease_until timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Acknowledged providers (the chain is the authority; this is the audit record).
CREATE TABLE acknowledgements (
    provider text PRIMARY KEY,
    tee_signer text NOT NULL,
    acknowledged_at timestamptz NOT NULL DEFAULT now()
);

-- Persistent API keys. The key itself is never stored: only what re-issues the same token
-- (its fields; the signature is deterministic) and a sha256 to recognise it.
CREATE TABLE api_keys (
    provider text NOT NULL,
    token_id smallint NOT NULL CHECK (token_id BETWEEN 0 AND 254),
    label text NOT NULL DEFAULT '',
    generation bigint NOT NULL,
    issued_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    nonce text NOT NULL,
    key_sha256 text NOT NULL,
    revoked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, token_id)
);

-- Fees of calls we made (what we owe each provider).
CREATE TABLE usage (
    request_id text PRIMARY KEY,
    provider text NOT NULL,
    user_id text NOT NULL DEFAULT '',
    chat_id text NOT NULL DEFAULT '',
    input_tokens bigint NOT NULL,
    output_tokens bigint NOT NULL,
    fee_neuron numeric(78, 0) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_provider_idx ON usage (provider);

-- Automatic transfers into provider sub-accounts, with the numbers that justified each.
CREATE TABLE top_ups (
    id bigserial PRIMARY KEY,
    provider text NOT NULL,
    locked_before numeric(78, 0) NOT NULL,
    required numeric(78, 0) NOT NULL,
    amount_neuron numeric(78, 0) NOT NULL,
    tx_hash text,
    error text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Outcomes of response verification.
CREATE TABLE verifications (
    request_id text PRIMARY KEY,
    provider text NOT NULL,
    chat_id text NOT NULL,
    valid boolean NOT NULL,
    reason text NOT NULL,
    signing_address text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Sub-account balance changes read from BalanceUpdated events (ours only).
CREATE TABLE balance_events (
    block_number bigint NOT NULL,
    log_index integer NOT NULL,
    tx_hash text NOT NULL,
    provider text NOT NULL,
    balance_neuron numeric(78, 0) NOT NULL,
    delta_neuron numeric(78, 0) NOT NULL,
    kind text NOT NULL CHECK (kind IN ('transfer', 'settlement', 'refund', 'other')),
    PRIMARY KEY (block_number, log_index)
);
CREATE TABLE event_cursor (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    next_block bigint NOT NULL
);

-- Wallet users of the signed flows.
CREATE TABLE user_accounts (
    address text PRIMARY KEY,
    funded_neuron numeric(78, 0) NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
