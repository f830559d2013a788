-- A request_id is claimed before any provider is called, so two arrivals of the same request
-- (on one replica or several) never both call a provider and bill twice. A pending row has no
-- response yet and names its owner by claim_token; claimed_at starts its lease, after which a
-- claim whose owner died (crash) may be taken over. A finished row has the response and no owner.
ALTER TABLE inference.responses
    ALTER COLUMN response DROP NOT NULL,
    ADD COLUMN claim_token uuid,
    ADD COLUMN claimed_at timestamptz;

ALTER TABLE inference.responses
    ADD CONSTRAINT responses_pending_or_done
    CHECK ((response IS NULL) = (claim_token IS NOT NULL AND claimed_at IS NOT NULL));
