-- Usage is the truth of what was spent (issue "Money safety", defects 2 and 7): a Commit after
-- the reservation's deadline, even once the sweeper gave the reservation back, and amounts above
-- the reservation are recorded and counted, never refused or capped. Their cost records say so.
-- Admissions are unchanged: reserve() still refuses anything beyond a limit.

-- Whether the commit came after the reservation's deadline.
ALTER TABLE cost_records ADD COLUMN late boolean NOT NULL DEFAULT false;
-- [{unit, price_key, amount, micro_usd, per_amount, cost_micro_usd}] used beyond the reservation.
ALTER TABLE cost_records ADD COLUMN overage jsonb NOT NULL DEFAULT '[]';

-- commit_reservation() of migration 003 plus p_overage (what p_items holds beyond the
-- reservation, for the record). A reservation past its deadline is committed all the same,
-- outcome 'late': if still reserved its amount is given back as on time; if already expired
-- (swept) it was given back then, and only the usage is added. A retry with the same items is a
-- 'replay' either way. One row: the outcome ('replay', 'late' or 'committed'), the reservation's
-- columns and its cost record's, prefixed rec_. Refusals: quota:finished (DETAIL: the state),
-- quota:tier_not_found. Migration 003's eleven-argument version stays for pods of the previous
-- release during a rollout; a later migration drops it.
CREATE FUNCTION commit_reservation(
    p_reservation_id uuid, p_subject text, p_period text, p_items jsonb, p_cost bigint,
    p_units text[], p_used bigint[], p_reserved bigint[], p_metadata jsonb,
    p_now timestamptz, p_default_tier text, p_overage jsonb
) RETURNS TABLE (
    outcome text, reservation_id uuid, service text, subject text, operation text,
    period text, items jsonb, cost_micro_usd bigint, state text, created_at timestamptz,
    expires_at timestamptz, committed_items jsonb, rec_cost_record_id bigint,
    rec_subject text, rec_service text, rec_operation text, rec_items jsonb,
    rec_cost_micro_usd bigint, rec_reservation_id uuid, rec_metadata jsonb, rec_period text,
    rec_created_at timestamptz, rec_late boolean, rec_overage jsonb
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r reservations;
    rec cost_records;
    lim record;
    v_outcome text;
    v_late boolean;
    v_unit text;
    v_limit bigint;
    v_used bigint;
    v_level text;
    v_percent int;
    v_alert bigint;
BEGIN
    -- Usage rows first, then the reservation: the one lock order of every quota writer.
    PERFORM lock_usage(p_subject, p_units, p_period);
    SELECT * INTO r FROM reservations WHERE reservation_id = p_reservation_id FOR UPDATE;
    IF r.state = 'committed' AND r.committed_items = p_items THEN
        v_outcome := 'replay';
        SELECT * INTO rec FROM cost_records WHERE reservation_id = p_reservation_id;
    ELSIF r.state NOT IN ('reserved', 'expired') THEN
        RAISE EXCEPTION 'quota:finished' USING DETAIL = r.state;
    ELSE
        v_late := r.state = 'expired' OR r.expires_at <= p_now;
        v_outcome := CASE WHEN v_late THEN 'late' ELSE 'committed' END;
        IF r.state = 'reserved' THEN
            PERFORM add_usage(p_subject, p_period, p_units, p_used, p_reserved);
        ELSE
            -- Expired: its reserved amounts were given back when it expired.
            PERFORM add_usage(
                p_subject, p_period, p_units, p_used,
                array_fill(0::bigint, ARRAY[array_length(p_units, 1)]));
        END IF;
        UPDATE reservations SET state = 'committed', finished_at = p_now,
                committed_items = p_items
            WHERE reservation_id = p_reservation_id RETURNING * INTO r;
        INSERT INTO cost_records (subject, service, operation, items, cost_micro_usd,
            reservation_id, metadata, period, created_at, late, overage)
        VALUES (r.subject, r.service, r.operation, p_items, p_cost, p_reservation_id,
            p_metadata, r.period, p_now, v_late, p_overage)
        RETURNING * INTO rec;
        -- alerts.py: each limited unit's committed usage against the thresholds, once per
        -- subject, unit, month and level; delivered by NOTIFY when the transaction commits.
        SELECT * INTO lim FROM subject_limits(p_subject, p_default_tier);
        FOR v_unit, v_limit IN
            SELECT v.u, v.l FROM (VALUES (1, 'storage_bytes', lim.storage_bytes),
                                         (2, 'compute_tokens', lim.compute_tokens),
                                         (3, 'cost_micro_usd', lim.cost_micro_usd))
                AS v(n, u, l)
            WHERE v.l IS NOT NULL AND v.l <> 0 ORDER BY v.n
        LOOP
            SELECT u.used INTO v_used FROM usage u
                WHERE u.subject = p_subject AND u.unit = v_unit
                  AND u.period = usage_period(v_unit, p_period);
            CONTINUE WHEN NOT FOUND;
            FOR v_level, v_percent IN
                SELECT * FROM (VALUES ('warning', 80), ('critical', 100)) AS t
            LOOP
                CONTINUE WHEN v_used::numeric * 100 < v_limit::numeric * v_percent;
                v_alert := NULL;
                INSERT INTO alerts AS a (subject, unit, period, level, used, limit_amount,
                    created_at)
                VALUES (p_subject, v_unit, p_period, v_level, v_used, v_limit, p_now)
                ON CONFLICT (subject, unit, period, level) DO NOTHING
                RETURNING a.alert_id INTO v_alert;
                IF v_alert IS NOT NULL THEN
                    PERFORM pg_notify('quota_alerts', v_alert::text);
                END IF;
            END LOOP;
        END LOOP;
    END IF;
    RETURN QUERY SELECT v_outcome, r.reservation_id, r.service, r.subject, r.operation,
        r.period, r.items, r.cost_micro_usd, r.state, r.created_at, r.expires_at,
        r.committed_items, rec.cost_record_id, rec.subject, rec.service, rec.operation,
        rec.items, rec.cost_micro_usd, rec.reservation_id, rec.metadata, rec.period,
        rec.created_at, rec.late, rec.overage;
END
$$;
