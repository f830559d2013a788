-- Reserve and Commit as one statement each (gateway overhead, issue 9): the same steps, locks
-- and lock order as the Python they replace (services/quota/reservations.py), in one round
-- trip instead of nine to twelve. Refusals are raised with SQLSTATE P0001 and a 'quota:*'
-- message that reservations.py turns back into its domain errors; raising rolls back
-- everything the call did, as the transaction it replaces did.

-- micro_usd per per_amount, rounded up, in exact integer arithmetic (model.Price.cost).
CREATE FUNCTION price_cost(amount bigint, micro_usd bigint, per_amount bigint) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT div(amount::numeric * micro_usd + per_amount - 1, per_amount)::bigint
$$;

-- The usage row a unit counts in: all time for storage, the month for the rest.
CREATE FUNCTION usage_period(unit text, month text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE WHEN unit = 'storage_bytes' THEN 'all' ELSE month END
$$;

-- A subject's effective limits (limits.limits_of); 'quota:tier_not_found' without a tier.
CREATE FUNCTION subject_limits(p_subject text, p_default_tier text)
RETURNS TABLE (storage_bytes bigint, compute_tokens bigint, cost_micro_usd bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
        SELECT coalesce(s.storage_bytes, t.storage_bytes),
               coalesce(s.compute_tokens, t.compute_tokens),
               coalesce(s.cost_micro_usd, t.cost_micro_usd)
        FROM tiers t LEFT JOIN subjects s ON s.subject = p_subject AND s.tier = t.name
        WHERE t.name = coalesce((SELECT tier FROM subjects WHERE subject = p_subject),
                                p_default_tier);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quota:tier_not_found' USING DETAIL = p_default_tier;
    END IF;
END
$$;

-- Create missing usage rows and lock them in (unit, period) order (reservations._lock_usage).
CREATE FUNCTION lock_usage(p_subject text, p_units text[], p_month text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage (subject, unit, period)
        SELECT p_subject, u, usage_period(u, p_month) FROM unnest(p_units) AS u
        ON CONFLICT DO NOTHING;
    PERFORM 1 FROM usage
        WHERE subject = p_subject
          AND (unit, period) IN (SELECT u, usage_period(u, p_month) FROM unnest(p_units) AS u)
        ORDER BY unit, period FOR UPDATE;
END
$$;

-- Add (used, reserved) deltas to locked usage rows (reservations._add_usage).
CREATE FUNCTION add_usage(
    p_subject text, p_month text, p_units text[], p_used bigint[], p_reserved bigint[]
) RETURNS void
LANGUAGE sql AS $$
    UPDATE usage SET used = usage.used + d.used, reserved = usage.reserved + d.reserved
    FROM unnest(p_units, p_used, p_reserved) AS d(unit, used, reserved)
    WHERE usage.subject = p_subject AND usage.unit = d.unit
      AND usage.period = usage_period(d.unit, p_month)
$$;

-- reservations._reserve: the stored reservation for a retried request_id, or a new one if
-- every budget it draws on can afford it. Refusals: quota:request_id_reused,
-- quota:tier_not_found, quota:exceeded (DETAIL: JSON unit, limit, available, requested).
CREATE FUNCTION reserve(
    p_reservation_id uuid, p_service text, p_request_id text, p_request_hash text,
    p_subject text, p_operation text, p_units text[], p_keys text[], p_amounts bigint[],
    p_now timestamptz, p_expires_at timestamptz, p_month text, p_default_tier text
) RETURNS reservations
LANGUAGE plpgsql AS $$
DECLARE
    held reservations;
    price record;
    lim record;
    items jsonb := '[]';
    item_cost bigint;
    total_cost bigint := 0;
    -- What the items draw from each budget, in the order units first appear, cost last.
    need_units text[] := '{}';
    need_amounts bigint[] := '{}';
    pos int;
    unit_limit bigint;
    standing record;
BEGIN
    SELECT * INTO held FROM reservations
        WHERE service = p_service AND request_id = p_request_id;
    IF FOUND THEN
        IF held.request_hash <> p_request_hash THEN
            RAISE EXCEPTION 'quota:request_id_reused';
        END IF;
        RETURN held;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_units, 1), 0) LOOP
        -- The key's own price, else the unit's default, else free.
        SELECT micro_usd, per_amount INTO price FROM prices
            WHERE unit = p_units[i] AND price_key IN (p_keys[i], '')
            ORDER BY price_key = p_keys[i] DESC LIMIT 1;
        IF NOT FOUND THEN
            SELECT 0::bigint AS micro_usd, 1::bigint AS per_amount INTO price;
        END IF;
        item_cost := price_cost(p_amounts[i], price.micro_usd, price.per_amount);
        items := items || jsonb_build_object(
            'unit', p_units[i], 'price_key', p_keys[i], 'amount', p_amounts[i],
            'micro_usd', price.micro_usd, 'per_amount', price.per_amount,
            'cost_micro_usd', item_cost);
        total_cost := total_cost + item_cost;
        pos := array_position(need_units, p_units[i]);
        IF pos IS NULL THEN
            need_units := need_units || p_units[i];
            need_amounts := need_amounts || p_amounts[i];
        ELSE
            need_amounts[pos] := need_amounts[pos] + p_amounts[i];
        END IF;
    END LOOP;
    IF total_cost <> 0 THEN
        need_units := need_units || 'cost_micro_usd'::text;
        need_amounts := need_amounts || total_cost;
    END IF;
    SELECT * INTO lim FROM subject_limits(p_subject, p_default_tier);
    PERFORM lock_usage(p_subject, need_units, p_month);
    FOR i IN 1 .. coalesce(array_length(need_units, 1), 0) LOOP
        unit_limit := CASE need_units[i]
            WHEN 'storage_bytes' THEN lim.storage_bytes
            WHEN 'compute_tokens' THEN lim.compute_tokens
            ELSE lim.cost_micro_usd END;
        SELECT used, reserved INTO standing FROM usage
            WHERE subject = p_subject AND unit = need_units[i]
              AND period = usage_period(need_units[i], p_month);
        IF unit_limit IS NOT NULL
           AND standing.used + standing.reserved + need_amounts[i] > unit_limit THEN
            RAISE EXCEPTION 'quota:exceeded' USING DETAIL = json_build_object(
                'unit', need_units[i], 'limit', unit_limit,
                'available', greatest(unit_limit - standing.used - standing.reserved, 0),
                'requested', need_amounts[i])::text;
        END IF;
    END LOOP;
    PERFORM add_usage(
        p_subject, p_month, need_units,
        array_fill(0::bigint, ARRAY[coalesce(array_length(need_units, 1), 0)]), need_amounts);
    INSERT INTO reservations (reservation_id, service, request_id, request_hash, subject,
        operation, period, items, cost_micro_usd, state, created_at, expires_at)
    VALUES (p_reservation_id, p_service, p_request_id, p_request_hash, p_subject,
        p_operation, p_month, items, total_cost, 'reserved', p_now, p_expires_at)
    RETURNING * INTO held;
    RETURN held;
END
$$;

-- reservations._commit_locked for a reservation the caller read and checked (owner, amounts):
-- p_units/p_used/p_reserved are its usage deltas, p_items what it spent. One row: outcome
-- 'replay' (committed before with the same items), 'expired' (expired now, and kept that way)
-- or 'committed'; the reservation's columns; its cost record's columns prefixed rec_.
-- Refusals: quota:finished (DETAIL: the state), quota:tier_not_found.
CREATE FUNCTION commit_reservation(
    p_reservation_id uuid, p_subject text, p_period text, p_items jsonb, p_cost bigint,
    p_units text[], p_used bigint[], p_reserved bigint[], p_metadata jsonb,
    p_now timestamptz, p_default_tier text
) RETURNS TABLE (
    outcome text, reservation_id uuid, service text, subject text, operation text,
    period text, items jsonb, cost_micro_usd bigint, state text, created_at timestamptz,
    expires_at timestamptz, committed_items jsonb, rec_cost_record_id bigint,
    rec_subject text, rec_service text, rec_operation text, rec_items jsonb,
    rec_cost_micro_usd bigint, rec_reservation_id uuid, rec_metadata jsonb, rec_period text,
    rec_created_at timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    r reservations;
    rec cost_records;
    lim record;
    v_outcome text;
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
    ELSIF r.state <> 'reserved' THEN
        RAISE EXCEPTION 'quota:finished' USING DETAIL = r.state;
    ELSIF r.expires_at <= p_now THEN
        v_outcome := 'expired';
        PERFORM add_usage(
            p_subject, p_period, p_units,
            array_fill(0::bigint, ARRAY[array_length(p_units, 1)]), p_reserved);
        UPDATE reservations SET state = 'expired', finished_at = p_now, committed_items = NULL
            WHERE reservation_id = p_reservation_id RETURNING * INTO r;
    ELSE
        v_outcome := 'committed';
        PERFORM add_usage(p_subject, p_period, p_units, p_used, p_reserved);
        UPDATE reservations SET state = 'committed', finished_at = p_now,
                committed_items = p_items
            WHERE reservation_id = p_reservation_id RETURNING * INTO r;
        INSERT INTO cost_records (subject, service, operation, items, cost_micro_usd,
            reservation_id, metadata, period, created_at)
        VALUES (r.subject, r.service, r.operation, p_items, p_cost, p_reservation_id,
            p_metadata, r.period, p_now)
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
        rec.created_at;
END
$$;
