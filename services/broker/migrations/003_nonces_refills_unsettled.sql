-- Replicas share one wallet: the next nonce is chosen from the highest one recorded per sender.
CREATE INDEX transactions_sender_nonce_idx ON transactions (sender, nonce DESC);

-- What each top-up believed the provider was owed, and where that figure came from
-- ('provider': its unsettledfee endpoint; 'local': our usage records minus settlements).
ALTER TABLE top_ups ADD COLUMN unsettled_neuron numeric(78, 0) NOT NULL DEFAULT 0;
ALTER TABLE top_ups ADD COLUMN unsettled_source text NOT NULL DEFAULT 'local'
    CHECK (unsettled_source IN ('provider', 'local'));

-- Deposits from the wallet into the ledger when its available balance fell below the floor.
CREATE TABLE ledger_refills (
    id bigserial PRIMARY KEY,
    available_before numeric(78, 0) NOT NULL,
    floor_neuron numeric(78, 0) NOT NULL,
    amount_neuron numeric(78, 0) NOT NULL,
    tx_hash text,
    error text NOT NULL DEFAULT '',
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
