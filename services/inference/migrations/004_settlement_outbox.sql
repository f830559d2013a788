-- The settlement outbox: one row per provider answer, written with the stored answer (the same
-- transaction that completes the request_id claim), so the caller never waits for quota or the
-- broker. A settler sends the quota commit and the broker's usage record (each idempotent on the
-- receiving side: by reservation, and by usage_id) and marks each step when acknowledged; the
-- row is settled once both are. A step refused for good (say the reservation is unknown) is
-- marked done with its refusal in quota_error / broker_error, for operators.
CREATE TABLE inference.settlements (
    settlement_id bigserial PRIMARY KEY,
    reservation_id text NOT NULL,
    price_key text NOT NULL,
    tokens bigint NOT NULL CHECK (tokens >= 0),
    usage_id text NOT NULL UNIQUE,
    provider text NOT NULL,
    user_id text NOT NULL DEFAULT '',
    input_tokens bigint NOT NULL CHECK (input_tokens >= 0),
    output_tokens bigint NOT NULL CHECK (output_tokens >= 0),
    fee_neuron numeric(78, 0) NOT NULL CHECK (fee_neuron >= 0),
    model text NOT NULL DEFAULT '',
    chat_id text NOT NULL DEFAULT '',
    -- The answer's W3C traceparent: the settler's batch span links to it.
    trace_parent text NOT NULL DEFAULT '',
    answered_at timestamptz NOT NULL DEFAULT now(),
    committed_at timestamptz,
    quota_error text NOT NULL DEFAULT '',
    recorded_at timestamptz,
    broker_error text NOT NULL DEFAULT '',
    settled_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error text NOT NULL DEFAULT '',
    CHECK ((settled_at IS NOT NULL) = (committed_at IS NOT NULL AND recorded_at IS NOT NULL))
);

-- What the settler reads: the unsettled rows, oldest due first.
CREATE INDEX settlements_due ON inference.settlements (next_attempt_at, settlement_id)
    WHERE settled_at IS NULL;
