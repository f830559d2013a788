-- The signed bytes of each transaction: after a broadcast whose answer was lost, a retry sends
-- the very same transaction again (same nonce, same hash) instead of signing a second one.
ALTER TABLE transactions ADD COLUMN raw_tx bytea;
-- Requests are resumed by looking up their transactions.
CREATE INDEX transactions_purpose_request_idx ON transactions (purpose, request_id);
