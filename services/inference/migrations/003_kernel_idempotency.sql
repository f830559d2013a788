-- Request ids are claimed and answered in the kernel's idempotency table now (zerog_db.Once,
-- keyed by (scope, request_id); a different method under the same id is a reused id).
--
-- The finished answers of inference.responses are not moved there: their fingerprint is the
-- sha256 of the request alone, Once's is the sha256 of the method and the request, and the
-- request itself was never stored, so a moved row could never match its retry (the retry would
-- be refused as REQUEST_ID_REUSED instead of being answered). A retry that spans the upgrade
-- runs again.
--
-- Which provider answered and what its TEE check found stay visible, in a table of their own
-- written in the same statement as the stored answer (the ones already recorded are kept).
CREATE TABLE inference.answer_sources (
    scope text NOT NULL,
    request_id text NOT NULL,
    method text NOT NULL,
    provider text NOT NULL,
    verification text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, request_id)
);

INSERT INTO inference.answer_sources (scope, request_id, method, provider, verification, created_at)
SELECT DISTINCT ON (caller, request_id) caller, request_id, method, provider, verification, created_at
FROM inference.responses
WHERE response IS NOT NULL AND provider <> ''
ORDER BY caller, request_id, created_at DESC;

DROP TABLE inference.responses;
