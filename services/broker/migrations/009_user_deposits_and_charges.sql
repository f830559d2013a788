-- Wallet users pay with their own on-chain deposits and their paid calls debit them.
--
-- user_deposits: each transfer credited by Fund, once ever (the primary key on tx_hash).
-- user_charges: each paid call debited by ChargeUser, once per (calling service, usage id: the
-- request_id of the call's RecordUsage, so a charge joins the usage it pays for).
-- user_accounts.spent_neuron: the sum of the charges; the balance is funded - spent, and the
-- check keeps it from ever going below zero. Existing accounts start with nothing spent.
ALTER TABLE user_accounts ADD COLUMN spent_neuron numeric(78, 0) NOT NULL DEFAULT 0;
ALTER TABLE user_accounts ADD CONSTRAINT user_accounts_balance_not_negative
    CHECK (spent_neuron >= 0 AND spent_neuron <= funded_neuron);

CREATE TABLE user_deposits (
    tx_hash text PRIMARY KEY,
    address text NOT NULL REFERENCES user_accounts (address),
    amount_neuron numeric(78, 0) NOT NULL CHECK (amount_neuron > 0),
    block_number bigint NOT NULL,
    caller text NOT NULL,
    request_id text NOT NULL,
    credited_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_deposits_address_idx ON user_deposits (address);

CREATE TABLE user_charges (
    caller text NOT NULL,
    request_id text NOT NULL,
    usage_id text NOT NULL,
    address text NOT NULL REFERENCES user_accounts (address),
    fee_neuron numeric(78, 0) NOT NULL CHECK (fee_neuron >= 0),
    charged_neuron numeric(78, 0) NOT NULL CHECK (charged_neuron >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller, request_id),
    UNIQUE (caller, usage_id)
);
CREATE INDEX user_charges_address_idx ON user_charges (address);
