-- Budget leases (issue 16): compute tokens, and their cost, set aside for one holder (an inference
-- replica) and one subject, so a hot subject's completions need no quota round trip each. A
-- lease holds its amounts in usage.reserved like a reservation, so usage + reservations + leases
-- never pass a limit: acquire_lease() grants at most what is left, under the subject's usage
-- row locks, in one statement. Spends move amounts from the lease's hold to usage (once per
-- spend_id); a return gives back all but what was spent and not yet reported; expiry gives back
-- whatever is still held. Lock order as everywhere in quota: usage rows, then the lease.

CREATE TABLE leases (
    lease_id uuid PRIMARY KEY,
    service text NOT NULL,
    holder text NOT NULL DEFAULT '',
    subject text NOT NULL,
    operation text NOT NULL DEFAULT '',
    price_key text NOT NULL,
    period text NOT NULL,
    micro_usd bigint NOT NULL,
    per_amount bigint NOT NULL,
    tokens bigint NOT NULL CHECK (tokens > 0),
    cost_micro_usd bigint NOT NULL CHECK (cost_micro_usd >= 0),
    -- What the lease still holds in usage.reserved.
    held_tokens bigint NOT NULL CHECK (held_tokens >= 0),
    held_cost bigint NOT NULL CHECK (held_cost >= 0),
    -- What its reported spends came to.
    reported_tokens bigint NOT NULL DEFAULT 0,
    reported_cost bigint NOT NULL DEFAULT 0,
    state text NOT NULL CHECK (state IN ('live', 'returned', 'expired')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    finished_at timestamptz
);

CREATE INDEX leases_holding ON leases (expires_at) WHERE state <> 'expired';
CREATE INDEX leases_by_subject ON leases (subject) WHERE state <> 'expired';

CREATE TABLE lease_spends (
    lease_id uuid NOT NULL REFERENCES leases (lease_id),
    spend_id text NOT NULL,
    tokens bigint NOT NULL CHECK (tokens >= 0),
    cost_micro_usd bigint NOT NULL,
    late boolean NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (lease_id, spend_id)
);

-- Give back what one lease still holds, if it is past its deadline (usage rows locked first).
CREATE FUNCTION expire_lease(p_lease_id uuid, p_now timestamptz) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_subject text;
    v_period text;
    v_tokens bigint;
    v_cost bigint;
BEGIN
    SELECT subject, period INTO v_subject, v_period FROM leases
        WHERE lease_id = p_lease_id AND state <> 'expired' AND expires_at <= p_now;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM lock_usage(v_subject, ARRAY['compute_tokens', 'cost_micro_usd'], v_period);
    SELECT held_tokens, held_cost INTO v_tokens, v_cost FROM leases
        WHERE lease_id = p_lease_id AND state <> 'expired' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    PERFORM add_usage(v_subject, v_period, ARRAY['compute_tokens', 'cost_micro_usd'],
        ARRAY[0, 0]::bigint[], ARRAY[-v_tokens, -v_cost]);
    UPDATE leases SET state = 'expired', held_tokens = 0, held_cost = 0,
            finished_at = coalesce(finished_at, p_now)
        WHERE lease_id = p_lease_id;
    RETURN true;
END
$$;

-- p_service's lease, its usage rows and then itself locked. Refusals: quota:lease_not_found,
-- quota:lease_not_owned (DETAIL: the owner).
CREATE FUNCTION owned_lease(p_lease_id uuid, p_service text) RETURNS leases
LANGUAGE plpgsql AS $$
DECLARE
    l leases;
BEGIN
    SELECT * INTO l FROM leases WHERE lease_id = p_lease_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'quota:lease_not_found';
    ELSIF l.service <> p_service THEN
        RAISE EXCEPTION 'quota:lease_not_owned' USING DETAIL = l.service;
    END IF;
    PERFORM lock_usage(l.subject, ARRAY['compute_tokens', 'cost_micro_usd'], l.period);
    SELECT * INTO l FROM leases WHERE lease_id = p_lease_id FOR UPDATE;
    RETURN l;
END
$$;

-- Grant up to p_want tokens (nothing below p_min) of the subject's budgets to p_holder. One row:
-- the lease (NULL lease_id when none was granted), the tokens that were available and those
-- other leases and reservations hold. Refusals: quota:tier_not_found.
CREATE FUNCTION acquire_lease(
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
    grant_tokens bigint;
    grant_cost bigint;
    l leases;
BEGIN
    -- The subject's expired leases give their holds back first.
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
    grant_tokens := p_want;
    IF lim.compute_tokens IS NOT NULL THEN
        grant_tokens := least(grant_tokens, lim.compute_tokens - tok.used - tok.reserved);
    END IF;
    -- The most tokens whose rounded-up cost fits what the cost budget has left.
    IF lim.cost_micro_usd IS NOT NULL AND price.micro_usd > 0 THEN
        grant_tokens := least(grant_tokens, div(
            (lim.cost_micro_usd - cost.used - cost.reserved)::numeric * price.per_amount,
            price.micro_usd)::bigint);
    END IF;
    grant_tokens := greatest(grant_tokens, 0);
    IF grant_tokens = 0 OR grant_tokens < p_min THEN
        RETURN QUERY SELECT NULL::leases, grant_tokens, tok.reserved;
        RETURN;
    END IF;
    grant_cost := price_cost(grant_tokens, price.micro_usd, price.per_amount);
    PERFORM add_usage(p_subject, p_month, ARRAY['compute_tokens', 'cost_micro_usd'],
        ARRAY[0, 0]::bigint[], ARRAY[grant_tokens, grant_cost]);
    INSERT INTO leases (lease_id, service, holder, subject, operation, price_key, period,
        micro_usd, per_amount, tokens, cost_micro_usd, held_tokens, held_cost, state,
        created_at, expires_at)
    VALUES (p_lease_id, p_service, p_holder, p_subject, p_operation, p_price_key, p_month,
        price.micro_usd, price.per_amount, grant_tokens, grant_cost, grant_tokens, grant_cost,
        'live', p_now, p_expires_at)
    RETURNING * INTO l;
    RETURN QUERY SELECT l, grant_tokens, tok.reserved;
END
$$;

-- Record one spend of a lease, once per spend_id: usage counts it, the lease holds that much
-- less (never below zero: usage above the hold is counted all the same), and a cost record is
-- written. One row: 'replay' or 'recorded', the spend's cost and whether it was late.
-- Refusals: quota:lease_not_found, quota:lease_not_owned (DETAIL: the owner),
-- quota:spend_id_reused.
CREATE FUNCTION report_lease_spend(
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
    RETURN QUERY SELECT 'recorded'::text, v_cost, v_late;
END
$$;

-- Give a live lease back: it keeps holding only what its holder spent (p_spent_*) and has not
-- reported yet, until reported or expired. A lease no longer live is left as it is. Refusals:
-- quota:lease_not_found, quota:lease_not_owned (DETAIL: the owner).
CREATE FUNCTION return_lease(
    p_lease_id uuid, p_service text, p_spent_tokens bigint, p_spent_cost bigint,
    p_now timestamptz
) RETURNS leases
LANGUAGE plpgsql AS $$
DECLARE
    l leases;
    keep_tokens bigint;
    keep_cost bigint;
BEGIN
    l := owned_lease(p_lease_id, p_service);
    IF l.state <> 'live' THEN
        RETURN l;
    END IF;
    keep_tokens := least(l.held_tokens, greatest(p_spent_tokens - l.reported_tokens, 0));
    keep_cost := least(l.held_cost, greatest(p_spent_cost - l.reported_cost, 0));
    PERFORM add_usage(l.subject, l.period, ARRAY['compute_tokens', 'cost_micro_usd'],
        ARRAY[0, 0]::bigint[],
        ARRAY[keep_tokens - l.held_tokens, keep_cost - l.held_cost]);
    UPDATE leases SET state = 'returned', held_tokens = keep_tokens, held_cost = keep_cost,
            finished_at = p_now
        WHERE lease_id = p_lease_id RETURNING * INTO l;
    RETURN l;
END
$$;
