-- 0012 bus.emit and bus.remember in PL/pgSQL, registry.at_us inlinable. As SQL functions,
-- bus.emit and bus.remember could not be inlined (an INSERT), so every call parsed and
-- planned their body again: 45-200 µs per call, on every change of every service. A PL/pgSQL
-- body is planned once per session. Same signatures, same effects.

CREATE OR REPLACE FUNCTION bus.emit(p_id uuid, p_source text, p_type text, p_subject text,
                                    p_data_schema text, p_data bytea, p_hs6 text DEFAULT NULL,
                                    p_soate text DEFAULT NULL, p_destination text DEFAULT NULL,
                                    p_request_id text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                            destination, request_id)
    VALUES (p_id, p_source, p_type, p_subject, p_data_schema, p_data, p_hs6, p_soate,
            p_destination, p_request_id);
END
$$;

CREATE OR REPLACE FUNCTION bus.remember(p_service text, p_request_id text, p_method text,
                                        p_fingerprint text, p_reply bytea)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bus.idempotency (service, request_id, method, fingerprint, reply)
    VALUES (p_service, p_request_id, p_method, p_fingerprint, p_reply);
END
$$;

-- Declared IMMUTABLE over STABLE timestamptz arithmetic, registry.at_us was never inlined
-- either (0010 fixed exports.at_us and exports.us_of the same way).
ALTER FUNCTION registry.at_us(bigint) STABLE;
