-- Budget leases on by default (issue 16): their spends raise the same 80 % / 100 % alerts as
-- commits, and no lease takes the whole of what is left, so replicas share a budget and the last
-- of it is reserved call by call.

-- The tier a lease's subject falls back to, as the holder asked for it: what its spends' alerts
-- are measured against.
ALTER TABLE leases ADD COLUMN default_tier text NOT NULL DEFAULT '';

-- Alerts for the subject's committed usage against its limits, once per subject, unit, month and
-- level; delivered by NOTIFY when the transaction commits (alerts.py). The same loop as
-- commit_reservation() of migration 004, which keeps its own copy: a function in use is not
-- replaced under a running release.
CREATE FUNCTION raise_usage_alerts(
    p_subject text, p_period text, p_now timestamptz, p_default_tier text
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    lim record;
    v_unit text;
    v_limit bigint;
    v_used bigint;
    v_level text;
    v_percent int;
    v_alert bigint;
BEGIN
    SELECT * INTO lim FROM subject_limits(p_subject, p_default_tier);
    FOR v_unit, v_limit IN
        SELECT v.u, v.l FROM (VALUES (1, 'storage_bytes', lim.storage_bytes),
                                     (2, 'compute_tokens', lim.compute_tokens),
                                     (3, 'cost_micro_usd', lim.cost_micro_usd)) AS v(n, u, l)
        WHERE v.l IS NOT NULL AND v.l <> 0 ORDER BY v.n
    LOOP
        SELECT u.used INTO v_used FROM usage u
            WHERE u.subject = p_subject AND u.unit = v_unit
              AND u.period = usage_period(v_unit, p_period);
        CONTINUE WHEN NOT FOUND;
        FOR v_level, v_percent IN SELECT * FROM (VALUES ('warning', 80), ('critical', 100)) AS t
        LOOP
            CONTINUE WHEN v_used::numeric * 100 < v_limit::numeric * v_percent;
            v_alert := NULL;
            INSERT INTO alerts AS a (subject, unit, period, level, used, limit_amount, created_at)
            VALUES (p_subject, v_unit, p_period, v_level, v_used, v_limit, p_now)
            ON CONFLICT (subject, unit, period, level) DO NOTHING
            RETURNING a.alert_id INTO v_alert;
            IF v_alert IS NOT NULL THEN
                PERFORM pg_notify('quota_alerts', v_alert::text);
            END IF;
        END LOOP;
    END LOOP;
END
$$;

-- acquire_lease() of migration 006, except that a lease takes at most a quarter of what the
-- subject's budgets have left (other replicas get theirs from the rest), and the tier is kept.
-- When a quarter is below p_min no lease is granted: `available` then tells the holder whether
-- a reservation of its own still fits.
CREATE OR REPLACE FUNCTION acquire_lease(
    p_lease_id uuid, p_service text, p_holder text, p_subject text, p_operation text,
    p_price_key text, p_want bigint, p_min bigint, p_now timestamptz, p_expires_at timestamptz,
    p_month text, p_default_tier text
) RETURNS TABLE (lease leases, available bigint, held bigint)
LANGUAGE plpgsql AS $$
DECLARE
    price record;
    lim record;
    tok record;
    cost record;
    left_tokens bigint;
    grant_tokens bigint;
    grant_cost bigint;
    l leases;
BEGIN
    PERFORM expire_lease(x.lease_id, p_now) FROM leases x
        WHERE x.subject = p_subject AND x.state <> 'expired' AND x.expires_at <= p_now;
    SELECT micro_usd, per_amount INTO price FROM prices
        WHERE unit = 'compute_tokens' AND price_key IN (p_price_key, '')
        ORDER BY price_key = p_price_key DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT 0::bigint AS micro_usd, 1::bigint AS per_amount INTO price;
    END IF;
    SELECT * INTO lim FROM subject_limits(p_subject, p_default_tier);
    PERFORM lock_usage(p_subject, ARRAY['compute_tokens', 'cost_micro_usd'], p_month);
    SELECT used, reserved INTO tok FROM usage
        WHERE subject = p_subject AND unit = 'compute_tokens' AND period = p_month;
    SELECT used, reserved INTO cost FROM usage
        WHERE subject = p_subject AND unit = 'cost_micro_usd' AND period = p_month;
    -- NULL: no limit binds, and the whole ask is granted.
    left_tokens := NULL;
    IF lim.compute_tokens IS NOT NULL THEN
        left_tokens := lim.compute_tokens - tok.used - tok.reserved;
    END IF;
    -- The most tokens whose rounded-up cost fits what the cost budget has left.
    IF lim.cost_micro_usd IS NOT NULL AND price.micro_usd > 0 THEN
        left_tokens := least(left_tokens, div(
            (lim.cost_micro_usd - cost.used - cost.reserved)::numeric * price.per_amount,
            price.micro_usd)::bigint);
    END IF;
    IF left_tokens IS NULL THEN
        left_tokens := p_want;
        grant_tokens := p_want;
    ELSE
        left_tokens := greatest(left_tokens, 0);
        grant_tokens := least(p_want, left_tokens / 4);
    END IF;
    IF grant_tokens = 0 OR grant_tokens < p_min THEN
        RETURN QUERY SELECT NULL::leases, left_tokens, tok.reserved;
        RETURN;
    END IF;
    grant_cost := price_cost(grant_tokens, price.micro_usd, price.per_amount);
    PERFORM add_usage(p_subject, p_month, ARRAY['compute_tokens', 'cost_micro_usd'],
        ARRAY[0, 0]::bigint[], ARRAY[grant_tokens, grant_cost]);
    INSERT INTO leases (lease_id, service, holder, subject, operation, price_key, period,
        micro_usd, per_amount, tokens, cost_micro_usd, held_tokens, held_cost, state,
        created_at, expires_at, default_tier)
    VALUES (p_lease_id, p_service, p_holder, p_subject, p_operation, p_price_key, p_month,
        price.micro_usd, price.per_amount, grant_tokens, grant_cost, grant_tokens, grant_cost,
        'live', p_now, p_expires_at, p_default_tier)
    RETURNING * INTO l;
    RETURN QUERY SELECT l, left_tokens, tok.reserved;
END
$$;

-- report_lease_spend() of migration 006, plus the alerts a commit raises.
CREATE OR REPLACE FUNCTION report_lease_spend(
    p_lease_id uuid, p_service text, p_spend_id text, p_tokens bigint, p_metadata jsonb,
    p_now timestamptz
) RETURNS TABLE (outcome text, cost_micro_usd bigint, late boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    l leases;
    s lease_spends;
    v_cost bigint;
    v_late boolean;
    free_tokens bigint;
    free_cost bigint;
BEGIN
    l := owned_lease(p_lease_id, p_service);
    SELECT * INTO s FROM lease_spends WHERE lease_id = p_lease_id AND spend_id = p_spend_id;
    IF FOUND THEN
        IF s.tokens <> p_tokens THEN
            RAISE EXCEPTION 'quota:spend_id_reused';
        END IF;
        RETURN QUERY SELECT 'replay'::text, s.cost_micro_usd, s.late;
        RETURN;
    END IF;
    v_cost := price_cost(p_tokens, l.micro_usd, l.per_amount);
    v_late := l.state = 'expired' OR l.expires_at <= p_now;
    free_tokens := least(p_tokens, l.held_tokens);
    free_cost := least(v_cost, l.held_cost);
    PERFORM add_usage(l.subject, l.period, ARRAY['compute_tokens', 'cost_micro_usd'],
        ARRAY[p_tokens, v_cost], ARRAY[-free_tokens, -free_cost]);
    UPDATE leases SET held_tokens = held_tokens - free_tokens, held_cost = held_cost - free_cost,
            reported_tokens = reported_tokens + p_tokens,
            reported_cost = reported_cost + v_cost
        WHERE lease_id = p_lease_id;
    INSERT INTO lease_spends (lease_id, spend_id, tokens, cost_micro_usd, late, created_at)
    VALUES (p_lease_id, p_spend_id, p_tokens, v_cost, v_late, p_now);
    INSERT INTO cost_records (subject, service, operation, items, cost_micro_usd,
        reservation_id, metadata, period, created_at, late, overage)
    VALUES (l.subject, l.service, l.operation,
        jsonb_build_array(jsonb_build_object(
            'unit', 'compute_tokens', 'price_key', l.price_key, 'amount', p_tokens,
            'micro_usd', l.micro_usd, 'per_amount', l.per_amount, 'cost_micro_usd', v_cost)),
        v_cost, NULL,
        p_metadata || jsonb_build_object('lease_id', p_lease_id::text, 'spend_id', p_spend_id),
        l.period, p_now, v_late, '[]');
    PERFORM raise_usage_alerts(l.subject, l.period, p_now, l.default_tier);
    RETURN QUERY SELECT 'recorded'::text, v_cost, v_late;
END
$$;
