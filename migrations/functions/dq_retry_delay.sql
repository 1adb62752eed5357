-- Seconds before the retry that follows the `failures`-th explicit failure (1-based):
-- fixed: base_seconds; exponential: base_seconds * factor^(failures-1) (factor
-- absent or 0: 2); both capped by max_seconds when given; no strategy: 1 second;
-- anything past one year is one year, so the timestamp stays valid.
CREATE OR REPLACE FUNCTION dq_retry_delay(p_strategy jsonb, p_failures integer) RETURNS float8
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_base float8;
    v_factor float8;
    v_delay float8;
    v_year CONSTANT float8 := 365 * 24 * 3600;
BEGIN
    IF p_strategy IS NULL OR jsonb_typeof(p_strategy) <> 'object' OR p_strategy = '{}'::jsonb THEN
        RETURN 1.0;
    END IF;
    v_base := CAST(p_strategy->>'base_seconds' AS float8);
    IF p_strategy->>'kind' = 'exponential' THEN
        v_factor := coalesce(nullif(CAST(p_strategy->>'factor' AS float8), 0), 2.0);
        IF v_base = 0 OR v_factor = 1 OR p_failures <= 1 THEN
            v_delay := v_base;
        ELSIF ln(v_base) + (p_failures - 1) * ln(v_factor) > 700 THEN
            v_delay := 'Infinity';  -- past float8's range: capped below
        ELSE
            v_delay := v_base * power(v_factor, p_failures - 1);
        END IF;
    ELSE
        v_delay := v_base;
    END IF;
    IF p_strategy->>'max_seconds' IS NOT NULL THEN
        v_delay := least(v_delay, CAST(p_strategy->>'max_seconds' AS float8));
    END IF;
    RETURN least(v_delay, v_year);
END
$$;
