-- Reserve, Commit and ReleaseUsage claim their requests in the kernel's idempotency table
-- (zerog_db.Once). The answers stored the old way move there, so a retry across the upgrade
-- still replays: quota keys them by the caller's service and request_id, with the request
-- hashes it stored before as their fingerprints.

-- Reserve: a statement's claim stores an empty answer; the reservation itself is re-read.
-- (reserve() keeps its own request_id check, which now agrees with these rows.)
INSERT INTO idempotency (scope, request_id, method, fingerprint, response, created_at)
SELECT service, request_id, 'Reserve', request_hash, ''::bytea, created_at FROM reservations
ON CONFLICT (scope, request_id) DO NOTHING;

-- ReleaseUsage: the stored answer is a serialized zerog.quota.v1.ReleaseUsageResponse, built
-- here by hand from {unit: amount}, units in name order as the service sorts them: per unit,
-- field 1 holds a UsageItem of unit (field 1, the enum's number) and amount (field 2), both
-- varints (7 bits a byte, low first, the high bit set on all but the last).
INSERT INTO idempotency (scope, request_id, method, fingerprint, response, created_at)
SELECT r.service, r.request_id, 'ReleaseUsage', r.request_hash,
    coalesce((
        SELECT string_agg(
            '\x0a'::bytea || set_byte('\x00'::bytea, 0, length(item.bytes)) || item.bytes,
            ''::bytea ORDER BY item.unit)
        FROM (
            SELECT given.key AS unit,
                '\x08'::bytea
                || set_byte('\x00'::bytea, 0, CASE given.key
                    WHEN 'storage_bytes' THEN 1 WHEN 'compute_tokens' THEN 2 ELSE 3 END)
                || '\x10'::bytea
                || (SELECT string_agg(set_byte('\x00'::bytea, 0, (
                            ((given.value::bigint >> (7 * k)) & 127)
                            | CASE WHEN given.value::bigint >> (7 * (k + 1)) > 0
                                THEN 128 ELSE 0 END)::int),
                        ''::bytea ORDER BY k)
                    FROM generate_series(0, 8) AS k
                    WHERE k = 0 OR given.value::bigint >> (7 * k) > 0) AS bytes
            FROM jsonb_each_text(r.released) AS given
        ) AS item
    ), ''::bytea),
    r.created_at
FROM usage_releases r
ON CONFLICT (scope, request_id) DO NOTHING;

-- What nothing reads any more: the old ReleaseUsage answers, and migration 003's eleven-argument
-- commit_reservation(), kept by 004 for the previous release's pods only.
DROP TABLE usage_releases;
DROP FUNCTION commit_reservation(
    uuid, text, text, jsonb, bigint, text[], bigint[], bigint[], jsonb, timestamptz, text
);
