-- TEE verification moves into inference (issue 16): the record of who answered a request is also
-- the record of its check. By default an answer is returned with verification 'pending' and
-- checked right after it; the check's outcome replaces the status here. What a check needs is
-- kept with the answer (the provider's chat id and the two hashes its TEE signs), so a pending
-- check outlives the replica that gave the answer.
ALTER TABLE inference.answer_sources
    ADD COLUMN chat_id text NOT NULL DEFAULT '',
    ADD COLUMN request_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN response_sha256 text NOT NULL DEFAULT '',
    ADD COLUMN reason text NOT NULL DEFAULT '',
    ADD COLUMN signing_address text NOT NULL DEFAULT '',
    ADD COLUMN checked_at timestamptz,
    ADD COLUMN check_attempts integer NOT NULL DEFAULT 0,
    -- When a replica may (re)try a pending check: set ahead while one is trying it.
    ADD COLUMN check_after timestamptz;

CREATE INDEX answer_sources_pending ON inference.answer_sources (check_after)
    WHERE verification = 'pending';
