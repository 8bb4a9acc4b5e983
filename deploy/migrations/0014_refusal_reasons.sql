-- 0014 refusal_reasons: the refusals of export moves and documents say why in a stable,
-- machine-readable word (the Status.reason clients branch on: DOCUMENT_MISSING,
-- PHYTO_BLOCKED, TRANSITION_NOT_ALLOWED...) with metadata (the missing documents, the day a
-- phytosanitary block ends), instead of only in English.
--
-- A function's result columns cannot change in place, so each is dropped and created again
-- with its body as the latest migration left it (0009, 0010) plus the new columns; nothing
-- else changes. exportd reads every column by name, and the mutation convention's optional
-- `reason` column (common/mutation.h) carries the reason to the client.
--
-- Reasons of a move (exports.move_check's problems 1..8): NOT_FOUND, VERSION_MISMATCH,
-- TRANSITION_NOT_ALLOWED, AGENCY_NOT_ALLOWED, AT_BEFORE_PREVIOUS_MOVE, DOCUMENT_MISSING,
-- PHYTO_BLOCKED, BORDER_POINT_INVALID. Of documents: NOT_FOUND, DOCUMENTS_CLOSED,
-- DOCUMENT_TYPE_UNKNOWN, DOCUMENT_EXISTS, PHYTO_BLOCKED, DOCUMENT_TRANSITION_NOT_ALLOWED,
-- INVALID_ARGUMENT.

DROP FUNCTION exports.move_refusals(text, text[], text[], bigint[], text[], bigint[], text[],
                                    text[], int[]);
DROP FUNCTION exports.apply_moves(text, text[], text[], text[], bytea[], text[], int[],
                                  bigint[], text[], bigint[], text[], text[], text[], text[],
                                  int[], uuid[], text[], bytea[]);
DROP FUNCTION exports.move_verdict(bigint, exports.shipments, text, timestamptz, int, text,
                                   timestamptz, text, text, int);
DROP FUNCTION exports.attach_document(text, text, text, text, bytea, bigint, bigint, text,
                                      text, text, date, date, text, bigint, uuid, bytea, bytea);
DROP FUNCTION exports.set_document_status(text, text, text, text, bytea, bigint, text, text,
                                          date, bigint, uuid, text, bytea, bytea);

-- The move judged in words: (kind, field, message) as before, its reason and metadata.
CREATE FUNCTION exports.move_verdict(p_id bigint, p_s exports.shipments, p_from text,
                                     p_prev_at timestamptz, p_version int, p_to text,
                                     p_at timestamptz, p_agency text, p_border text,
                                     p_expected int)
RETURNS TABLE (kind text, field text, message text, reason text, metadata json)
LANGUAGE sql STABLE AS $$
    SELECT (ARRAY['not_found', 'stale', 'precondition', 'invalid', 'invalid', 'precondition',
                  'precondition', 'invalid'])[c.problem],
           (ARRAY['shipment_id', 'expected_version', 'to', 'agency', 'at_us', 'to', 'to',
                  'border_point'])[c.problem],
           CASE c.problem
           WHEN 1 THEN format('no shipment with id %s', p_id)
           WHEN 2 THEN format('shipment %s is at version %s, not %s: read it again', p_id,
                              p_version, p_expected)
           WHEN 3 THEN format('shipment %s is %s and cannot become %s%s', p_id, p_from, p_to,
                              coalesce((SELECT format(' (it can become %s)',
                                                      string_agg(a.to_status, ', '
                                                                 ORDER BY st.ord))
                                          FROM exports.transitions a
                                          JOIN exports.statuses st ON st.code = a.to_status
                                         WHERE a.from_status = p_from
                                        HAVING count(*) > 0),
                                       format(': %s is final', p_from)))
           WHEN 4 THEN format('a move to %s is recorded by %s, got "%s"', p_to,
                              array_to_string(c.agencies, ' or '), p_agency)
           WHEN 5 THEN format('%s is before the shipment became %s (%s)', p_at, p_from,
                              p_prev_at)
           WHEN 6 THEN format('shipment %s cannot become %s: missing documents: %s', p_id, p_to,
                              array_to_string(c.missing, ', '))
           WHEN 7 THEN format('shipment %s carries plant products and %s %s is blocked from '
                              'new phytosanitary certificates until %s, after violation '
                              'notices from %s', p_id, (p_s).exporter_kind,
                              (p_s).exporter_id, c.blocked_until, c.block_country)
           WHEN 8 THEN format('%s is not a crossing point for %s transport', p_border,
                              (p_s).transport_mode)
           END,
           (ARRAY['NOT_FOUND', 'VERSION_MISMATCH', 'TRANSITION_NOT_ALLOWED',
                  'AGENCY_NOT_ALLOWED', 'AT_BEFORE_PREVIOUS_MOVE', 'DOCUMENT_MISSING',
                  'PHYTO_BLOCKED', 'BORDER_POINT_INVALID'])[c.problem],
           CASE c.problem
           WHEN 0 THEN NULL
           WHEN 2 THEN json_build_object('shipment_id', p_id::text, 'version', p_version::text)
           WHEN 3 THEN json_build_object('shipment_id', p_id::text, 'status', p_from,
                                         'to', p_to)
           WHEN 4 THEN json_build_object('shipment_id', p_id::text,
                                         'agencies', array_to_string(c.agencies, ','))
           WHEN 6 THEN json_build_object('shipment_id', p_id::text,
                                         'missing_documents', array_to_string(c.missing, ','))
           WHEN 7 THEN json_build_object('shipment_id', p_id::text,
                                         'blocked_until', c.blocked_until::text,
                                         'country', c.block_country)
           ELSE json_build_object('shipment_id', p_id::text)
           END
      FROM exports.move_check(p_s, p_from, p_prev_at, p_version, p_to, p_at, p_agency,
                              p_border, p_expected) c;
$$;

CREATE FUNCTION exports.apply_moves(
    p_service text, p_methods text[], p_requests text[], p_fps text[], p_replies bytea[],
    p_callers text[], p_group int[], p_ids bigint[], p_to text[], p_at_us bigint[],
    p_agency text[], p_reason text[], p_reference text[], p_border text[], p_expected int[],
    p_event_ids uuid[], p_types text[], p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int, problems json,
               reason text, metadata json)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM exports.shipments s WHERE s.id = ANY (p_ids) ORDER BY s.id FOR UPDATE;

    -- One statement, so one snapshot, taken after the locks: it sees the shipments as the
    -- last change left them, and the stored reply of a retried twin that changed them.
    RETURN QUERY
    WITH r AS MATERIALIZED (
        -- Each request's stored reply when it is a retry (a scalar subquery: one index
        -- lookup per request, whatever the table's size when the plan was made).
        SELECT g, (SELECT i FROM bus.idempotency i
                    WHERE i.service = p_service AND i.request_id = p_requests[g]) AS i
          FROM generate_subscripts(p_requests, 1) AS g
    ), checked AS MATERIALIZED (
        SELECT m.*, p_group[m.idx] AS g, v.kind, v.field AS problem_field,
               v.message AS problem, v.reason AS problem_reason, v.metadata AS problem_metadata
          FROM exports.moves(p_ids, p_to, p_at_us, p_border, p_expected) m
         CROSS JOIN LATERAL exports.move_verdict(m.id, m.s, m.from_status, m.prev_at,
                                                 m.version_before, m.to_status, m.at,
                                                 p_agency[m.idx], m.border, m.expected) v
    ), groups AS MATERIALIZED (
        SELECT r.g, r.i,
               CASE WHEN r.i IS NOT NULL AND (r.i).fingerprint = p_fps[r.g] THEN 'replay'
                    WHEN r.i IS NOT NULL THEN 'reused'
                    WHEN b.g IS NOT NULL THEN 'refused'
                    ELSE 'ok' END AS fate,
               b.kind, b.problem_field, b.problem, b.problems, b.problem_reason,
               b.problem_metadata
          FROM r
          LEFT JOIN (SELECT c.g, (array_agg(c.kind ORDER BY c.idx))[1] AS kind,
                            (array_agg(c.problem_field ORDER BY c.idx))[1] AS problem_field,
                            (array_agg(c.problem ORDER BY c.idx))[1] AS problem,
                            (array_agg(c.problem_reason ORDER BY c.idx))[1] AS problem_reason,
                            (array_agg(c.problem_metadata ORDER BY c.idx))[1]
                                AS problem_metadata,
                            json_agg(json_build_array(c.idx - 1, c.problem_field, c.problem,
                                                      c.problem_reason)
                                     ORDER BY c.idx) AS problems
                       FROM checked c WHERE c.kind IS NOT NULL GROUP BY c.g) b ON b.g = r.g
    ), m AS MATERIALIZED (
        -- The moves to apply: those of the groups accepted whole.
        SELECT c.*, p_agency[c.idx] AS agency, p_reason[c.idx] AS reason,
               p_reference[c.idx] AS reference, p_event_ids[c.idx] AS event_id,
               p_types[c.idx] AS event_type, p_heads[c.idx] AS head,
               CASE WHEN c.to_status = 'departed'
                    THEN coalesce(nullif(c.border, ''), (c.s).border_point) END AS via
          FROM checked c JOIN groups k ON k.g = c.g AND k.fate = 'ok'
    ), last AS (
        SELECT DISTINCT ON (m.id) m.id, m.from_status, m.to_status, m.at,
               m.version_before + 1 AS version
          FROM m ORDER BY m.id, m.idx DESC
    ), marks AS (
        SELECT m.id,
               max(m.at) FILTER (WHERE m.to_status = 'declared') AS declared,
               max(m.at) FILTER (WHERE m.to_status = 'documents_complete') AS complete,
               max(m.at) FILTER (WHERE m.to_status = 'released') AS released,
               max(m.at) FILTER (WHERE m.to_status = 'departed') AS departed,
               max(m.at) FILTER (WHERE m.to_status = 'delivered') AS delivered,
               max(m.via) AS via
          FROM m GROUP BY m.id
    ), upd AS (
        UPDATE exports.shipments s
           SET status = l.to_status, previous_status = l.from_status, version = l.version,
               status_at = l.at,
               declared_at = coalesce(k.declared, s.declared_at),
               documents_complete_at = coalesce(k.complete, s.documents_complete_at),
               released_at = coalesce(k.released, s.released_at),
               departed_at = coalesce(k.departed, s.departed_at),
               delivered_at = coalesce(k.delivered, s.delivered_at),
               departed_via = coalesce(k.via, s.departed_via),
               stats_month = CASE WHEN l.to_status = 'returned' THEN NULL
                                  WHEN k.departed IS NOT NULL THEN exports.month_of(k.departed)
                                  ELSE s.stats_month END
          FROM last l JOIN marks k ON k.id = l.id
         WHERE s.id = l.id
    ), hist AS (
        INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                              caller, agency, reason, reference, border_point,
                                              request_id, event_id)
        SELECT m.id, m.version_before + 1, m.from_status, m.to_status, m.at, p_callers[m.g],
               m.agency, m.reason, m.reference, m.via, p_requests[m.g], m.event_id
          FROM m
    ), docs AS (
        SELECT k.id, l.refs FROM marks k CROSS JOIN LATERAL exports.document_list(k.id) l
    ), ev AS (
        -- bus.emit's insert, set-based.
        INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                                destination, request_id)
        SELECT m.event_id, '/ovop/exports', m.event_type, 'shipment/' || m.id,
               'ovop.v1.ExportEvent', m.head || (m.s).event_pb || d.refs, (m.s).hs6,
               (m.s).origin_territory, (m.s).destination, p_requests[m.g]
          FROM m JOIN docs d ON d.id = m.id ORDER BY m.idx
    ), remembered AS (
        INSERT INTO bus.idempotency (service, request_id, method, fingerprint, reply)
        SELECT p_service, p_requests[k.g], p_methods[k.g], p_fps[k.g], p_replies[k.g]
          FROM groups k WHERE k.fate = 'ok'
    ), counted AS (
        SELECT m.idx, m.id, (m.s).destination AS destination,
               CASE m.to_status WHEN 'departed' THEN 1 ELSE -1 END AS sign,
               exports.month_of(CASE m.to_status WHEN 'departed' THEN m.at
                                                 ELSE m.departed_before END) AS month
          FROM m WHERE m.to_status IN ('departed', 'returned')
    ), cells AS (
        SELECT c.month, exports.region_of(l.territory_code) AS region,
               exports.district_of(l.territory_code) AS district, l.hs6, c.destination,
               (c.sign * sum(l.net_kg) * 1000)::bigint AS net_g,
               (c.sign * sum(l.value_usd) * 100)::bigint AS usd_cents,
               (c.sign * sum(l.value_som) * 100)::bigint AS som_tyiyn, c.sign AS n
          FROM counted c JOIN exports.lots l ON l.shipment_id = c.id
         GROUP BY c.idx, c.sign, c.month, 2, 3, l.hs6, c.destination
    ), counts AS (
        INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination,
                                                stripe, net_g, usd_cents, som_tyiyn, shipments)
        SELECT c.month, c.region, c.district, c.hs6, c.destination,
               (pg_backend_pid() % 8)::smallint, sum(c.net_g), sum(c.usd_cents),
               sum(c.som_tyiyn), sum(c.n)
          FROM cells c
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
           SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
               som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
               shipments = t.shipments + excluded.shipments
    )
    SELECT CASE k.fate WHEN 'refused' THEN k.kind WHEN 'reused' THEN 'invalid' ELSE k.fate END,
           CASE k.fate WHEN 'ok' THEN p_replies[k.g] WHEN 'replay' THEN (k.i).reply END,
           CASE k.fate WHEN 'refused' THEN k.problem_field WHEN 'reused' THEN 'request_id'
                       ELSE '' END,
           CASE k.fate WHEN 'refused' THEN k.problem
                       WHEN 'reused' THEN 'was already used for a different request'
                       ELSE '' END,
           k.g, CASE k.fate WHEN 'refused' THEN k.problems END,
           CASE k.fate WHEN 'refused' THEN k.problem_reason
                       WHEN 'reused' THEN 'REQUEST_ID_REUSED' END,
           CASE k.fate WHEN 'refused' THEN k.problem_metadata END
      FROM groups k;
END
$$;

CREATE FUNCTION exports.move_refusals(
    p_service text, p_requests text[], p_fps text[], p_ids bigint[], p_to text[],
    p_at_us bigint[], p_agency text[], p_border text[], p_expected int[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, grp int, reason text,
               metadata json)
LANGUAGE plpgsql STABLE SET jit = off AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT CASE WHEN (k.prev).fingerprint = p_fps[k.g] THEN 'replay'
                WHEN k.prev IS NOT NULL THEN 'invalid'
                ELSE coalesce(v.kind, 'none') END,
           CASE WHEN (k.prev).fingerprint = p_fps[k.g] THEN (k.prev).reply END,
           CASE WHEN k.prev IS NOT NULL AND (k.prev).fingerprint <> p_fps[k.g]
                THEN 'request_id' WHEN k.prev IS NULL THEN coalesce(v.field, '') ELSE '' END,
           CASE WHEN k.prev IS NOT NULL AND (k.prev).fingerprint <> p_fps[k.g]
                THEN 'was already used for a different request'
                WHEN k.prev IS NULL THEN coalesce(v.message, '') ELSE '' END,
           k.g,
           CASE WHEN k.prev IS NOT NULL AND (k.prev).fingerprint <> p_fps[k.g]
                THEN 'REQUEST_ID_REUSED' WHEN k.prev IS NULL THEN v.reason END,
           CASE WHEN k.prev IS NULL THEN v.metadata END
      FROM (SELECT g, (SELECT x FROM bus.idempotency x
                        WHERE x.service = p_service AND x.request_id = p_requests[g]) AS prev,
                   (SELECT s FROM exports.shipments s WHERE s.id = p_ids[g]) AS s
              FROM generate_subscripts(p_ids, 1) AS g
            OFFSET 0) k
     CROSS JOIN LATERAL exports.move_verdict(p_ids[k.g], k.s, (k.s).status, (k.s).status_at,
                                             (k.s).version, p_to[k.g],
                                             exports.at_us(p_at_us[k.g]), p_agency[k.g],
                                             p_border[k.g], p_expected[k.g]) v;
END
$$;

CREATE FUNCTION exports.attach_document(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_shipment bigint, p_type text, p_number text, p_issuer text,
    p_issued_on date, p_valid_until date, p_status text, p_at_us bigint, p_event_id uuid,
    p_head bytea, p_ref bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_s exports.shipments%ROWTYPE;
    v_other bigint;
    v_refusal text;
    v_at timestamptz := exports.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', NULL::text;
        RETURN;
    END IF;
    SELECT * INTO v_s FROM exports.shipments WHERE id = p_shipment FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'shipment_id',
            format('no shipment with id %s', p_shipment), 'NOT_FOUND';
        RETURN;
    END IF;
    IF v_s.status NOT IN ('draft', 'declared', 'documents_complete', 'released') THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'shipment_id',
            format('shipment %s is %s: documents can no longer be attached', p_shipment,
                   v_s.status), 'DOCUMENTS_CLOSED';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.document_types WHERE code = p_type) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'type',
            format('unknown document type %s', p_type), 'DOCUMENT_TYPE_UNKNOWN';
        RETURN;
    END IF;
    SELECT id INTO v_other FROM exports.documents
     WHERE shipment_id = p_shipment AND doc_type = p_type AND number = p_number;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'number',
            format('shipment %s already has %s %s (document %s)', p_shipment, p_type, p_number,
                   v_other), 'DOCUMENT_EXISTS';
        RETURN;
    END IF;
    IF p_type = 'phytosanitary' THEN
        v_refusal := coalesce(
            exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, current_date),
            exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, p_issued_on));
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'type', v_refusal, 'PHYTO_BLOCKED';
            RETURN;
        END IF;
    END IF;
    INSERT INTO exports.documents (id, shipment_id, doc_type, number, issuer, issued_on,
                                   valid_until, status, created_at, updated_at, ref_pb)
    VALUES (p_id, p_shipment, p_type, p_number, p_issuer, p_issued_on, p_valid_until, p_status,
            v_at, v_at, p_ref);
    UPDATE exports.shipments SET version = version + 1 WHERE id = p_shipment;
    PERFORM bus.emit(p_event_id, '/ovop/exports', 'ovop.exports.document.attached',
                     'document/' || p_id, 'ovop.v1.ExportEvent',
                     p_head || v_s.event_pb || exports.document_refs(p_shipment), v_s.hs6,
                     v_s.origin_territory, v_s.destination, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', NULL::text;
END
$$;

CREATE FUNCTION exports.set_document_status(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_status text, p_reason text, p_issued_on date, p_at_us bigint,
    p_event_id uuid, p_event_type text, p_head bytea, p_ref bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text, reason text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_d exports.documents%ROWTYPE;
    v_s exports.shipments%ROWTYPE;
    v_refusal text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', NULL::text;
        RETURN;
    END IF;
    SELECT * INTO v_d FROM exports.documents WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'document_id',
            format('no document with id %s', p_id), 'NOT_FOUND';
        RETURN;
    END IF;
    IF NOT (v_d.status, p_status) IN (('requested', 'issued'), ('requested', 'rejected'),
                                       ('issued', 'revoked')) THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'status',
            format('document %s is %s and cannot become %s', p_id, v_d.status, p_status),
            'DOCUMENT_TRANSITION_NOT_ALLOWED';
        RETURN;
    END IF;
    IF p_issued_on IS NOT NULL AND v_d.valid_until IS NOT NULL
       AND p_issued_on > v_d.valid_until THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'issued_on',
            format('%s is after the document''s validity ends (%s)', p_issued_on,
                   v_d.valid_until), 'INVALID_ARGUMENT';
        RETURN;
    END IF;
    SELECT * INTO v_s FROM exports.shipments WHERE id = v_d.shipment_id FOR UPDATE;
    IF p_status = 'issued' AND v_d.doc_type = 'phytosanitary' THEN
        v_refusal := exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, p_issued_on);
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'status', v_refusal, 'PHYTO_BLOCKED';
            RETURN;
        END IF;
    END IF;
    UPDATE exports.documents
       SET status = p_status, status_reason = p_reason,
           issued_on = coalesce(p_issued_on, issued_on), updated_at = exports.at_us(p_at_us),
           ref_pb = p_ref
     WHERE id = p_id;
    UPDATE exports.shipments SET version = version + 1 WHERE id = v_s.id;
    PERFORM bus.emit(p_event_id, '/ovop/exports', p_event_type, 'document/' || p_id,
                     'ovop.v1.ExportEvent',
                     p_head || v_s.event_pb || exports.document_refs(v_s.id), v_s.hs6,
                     v_s.origin_territory, v_s.destination, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', NULL::text;
END
$$;
