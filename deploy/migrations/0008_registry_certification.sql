-- 0008 brand certification ("Made in Kyrgyzstan" / OVOP label): the rubric, applications
-- (submitted -> scored -> approved | rejected) and certificates (active -> suspended ->
-- active, active | suspended -> revoked; "expired" is derived from the dates). Mutations
-- follow common/mutation.h: one statement each, writing the change, its events and the
-- reply in one transaction.
--
-- Dates. "Issued today" and "expires 36 months later" are part of the reply, which
-- registryd builds before the statement runs, so registryd takes today's date from the
-- database (current_date, in the statement that reads the record being changed) and passes
-- it back as p_today. The functions refuse a p_today more than a day away from their own
-- current_date (a day covers a change read just before midnight and stored just after),
-- and store p_today, so that the stored row and the reply never disagree.

-- One open application per product, one certificate issued per application, one renewal
-- per certificate: the functions check these first; the indexes settle concurrent twins.
CREATE UNIQUE INDEX applications_open_product ON registry.applications (product_id)
    WHERE status IN ('submitted', 'scored');
CREATE UNIQUE INDEX certificates_issued_from ON registry.certificates (application_id)
    WHERE renewed_from IS NULL;
CREATE UNIQUE INDEX certificates_renewal ON registry.certificates (renewed_from)
    WHERE renewed_from IS NOT NULL;

-- The expiry date of a certificate issued on p_issued.
CREATE FUNCTION registry.certificate_expiry(p_issued date) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (p_issued + interval '36 months')::date;
$$;

-- The status a client sees: a stored 'active' past its expiry date reads 'expired'.
CREATE FUNCTION registry.certificate_status(p_status text, p_expires date,
                                            p_on date DEFAULT current_date)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN p_status = 'active' AND p_expires <= p_on THEN 'expired' ELSE p_status END;
$$;

-- Why p_today may not be used as today's date, or NULL when it may.
CREATE FUNCTION registry.today_problem(p_today date) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN abs(p_today - current_date) > 1 THEN
        format('the registry service dated the change %s but the database''s date is %s; '
               'check the clocks and retry', p_today, current_date) END;
$$;

-- The rubric as one JSON document: {"criteria": [[name, max_points], ...] in order,
-- "thresholds": [[stars, min_points], ...] by stars, "version": n}.
CREATE FUNCTION registry.rubric() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'criteria', coalesce((SELECT jsonb_agg(jsonb_build_array(name, max_points) ORDER BY ord)
                                FROM registry.rubric_criteria), '[]'),
        'thresholds', coalesce((SELECT jsonb_agg(jsonb_build_array(stars, min_points)
                                                 ORDER BY stars)
                                  FROM registry.star_thresholds), '[]'),
        'version', (SELECT version FROM registry.rubric_version WHERE id = 1));
$$;

-- Replaces the rubric (already checked by registryd: criteria [[name, max_points], ...],
-- thresholds [[stars, min_points], ...]) under optimistic versioning.
CREATE FUNCTION registry.set_rubric(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_version int, p_criteria jsonb, p_thresholds jsonb, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cur int;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT version INTO v_cur FROM registry.rubric_version WHERE id = 1 FOR UPDATE;
    IF v_cur <> p_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'rubric.version',
            format('the rubric is at version %s, not %s: read it again and reapply your change',
                   v_cur, p_version);
        RETURN;
    END IF;
    DELETE FROM registry.rubric_criteria;
    INSERT INTO registry.rubric_criteria (name, max_points, ord)
    SELECT c.value->>0, (c.value->>1)::int, c.ord
      FROM jsonb_array_elements(p_criteria) WITH ORDINALITY AS c(value, ord);
    DELETE FROM registry.star_thresholds;
    INSERT INTO registry.star_thresholds (stars, min_points)
    SELECT (t.value->>0)::int, (t.value->>1)::int FROM jsonb_array_elements(p_thresholds) AS t;
    UPDATE registry.rubric_version SET version = version + 1 WHERE id = 1;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.rubric.updated', 'rubric',
                     'ovop.v1.Rubric', p_event, NULL, NULL, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

CREATE FUNCTION registry.submit_application(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_producer bigint, p_product bigint, p_at_us bigint, p_event_id uuid,
    p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_producer registry.producers%ROWTYPE;
    v_product registry.products%ROWTYPE;
    v_open registry.applications%ROWTYPE;
    v_at timestamptz := registry.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    -- FOR SHARE: a concurrent suspension waits for this application, or this one sees it.
    SELECT * INTO v_producer FROM registry.producers WHERE id = p_producer FOR SHARE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'producer_id',
            format('no producer with id %s', p_producer);
        RETURN;
    END IF;
    IF v_producer.status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'producer_id',
            format('producer %s is %s: only an active producer can apply for certification',
                   p_producer, v_producer.status);
        RETURN;
    END IF;
    SELECT * INTO v_product FROM registry.products WHERE id = p_product;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'product_id',
            format('no product with id %s', p_product);
        RETURN;
    END IF;
    IF v_product.producer_id <> p_producer THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'product_id',
            format('product %s belongs to producer %s, not to producer %s', p_product,
                   v_product.producer_id, p_producer);
        RETURN;
    END IF;
    SELECT * INTO v_open FROM registry.applications
     WHERE product_id = p_product AND status IN ('submitted', 'scored');
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'product_id',
            format('product %s already has an open application (id %s, %s): decide it first',
                   p_product, v_open.id, v_open.status);
        RETURN;
    END IF;
    INSERT INTO registry.applications (id, producer_id, product_id, status, submitted_at,
                                       updated_at)
    VALUES (p_id, p_producer, p_product, 'submitted', v_at, v_at);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.application.submitted',
                     'application/' || p_id, 'ovop.v1.Application', p_event, v_product.hs6,
                     v_producer.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Locks application p_id for the rest of the transaction and checks it exists and is at
-- p_version. Returns NULL when it may change, else the refusal {outcome, field, message}.
CREATE FUNCTION registry.lock_application(p_id bigint, p_version int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_version int;
BEGIN
    SELECT version INTO v_version FROM registry.applications WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN ARRAY['not_found', 'application_id', format('no application with id %s', p_id)];
    ELSIF v_version <> p_version THEN
        RETURN ARRAY['stale', 'version',
            format('application %s is at version %s, not %s: read it again and reapply your '
                   'change', p_id, v_version, p_version)];
    END IF;
    RETURN NULL;
END
$$;

-- Records the committee's scores, computed by registryd against rubric version
-- p_rubric_version; refused when the rubric changed since.
CREATE FUNCTION registry.score_application(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_rubric_version int, p_scores jsonb, p_total int,
    p_stars int, p_level text, p_committee text, p_at_us bigint, p_event_id uuid,
    p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_app registry.applications%ROWTYPE;
    v_refusal text[];
    v_rubric int;
    v_soate text;
    v_hs6 text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_refusal := registry.lock_application(p_id, p_version);
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal[1], NULL::bytea, v_refusal[2], v_refusal[3];
        RETURN;
    END IF;
    SELECT * INTO v_app FROM registry.applications WHERE id = p_id;
    IF v_app.status NOT IN ('submitted', 'scored') THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'application_id',
            format('application %s is %s: only a submitted or scored application can be scored',
                   p_id, v_app.status);
        RETURN;
    END IF;
    -- FOR SHARE: a concurrent rubric change waits for this scoring, or this one sees it.
    SELECT version INTO v_rubric FROM registry.rubric_version WHERE id = 1 FOR SHARE;
    IF v_rubric <> p_rubric_version THEN
        RETURN QUERY SELECT 'stale', NULL::bytea, 'scores',
            format('the rubric changed (now version %s) while the application was being '
                   'scored: score it again against the current rubric', v_rubric);
        RETURN;
    END IF;
    UPDATE registry.applications
       SET status = 'scored', scores = p_scores, total = p_total, stars = p_stars,
           approval_level = p_level, committee = p_committee, version = version + 1,
           updated_at = registry.at_us(p_at_us)
     WHERE id = p_id;
    SELECT p.territory_code, pr.hs6 INTO v_soate, v_hs6
      FROM registry.producers p, registry.products pr
     WHERE p.id = v_app.producer_id AND pr.id = v_app.product_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.application.scored',
                     'application/' || p_id, 'ovop.v1.Application', p_event, v_hs6, v_soate,
                     NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Approves (issuing certificate p_number, dated p_today, in the same transaction) or
-- rejects an application. Approval needs a scored application with at least one star,
-- approved at the level its stars require (p_level), and a producer still active.
CREATE FUNCTION registry.decide_application(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_version int, p_approve boolean, p_level text, p_decided_by text,
    p_reason text, p_today date, p_number text, p_at_us bigint, p_event_id uuid,
    p_event bytea, p_cert_event_id uuid, p_cert_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_app registry.applications%ROWTYPE;
    v_refusal text[];
    v_producer registry.producers%ROWTYPE;
    v_hs6 text;
    v_problem text;
    v_at timestamptz := registry.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_refusal := registry.lock_application(p_id, p_version);
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal[1], NULL::bytea, v_refusal[2], v_refusal[3];
        RETURN;
    END IF;
    SELECT * INTO v_app FROM registry.applications WHERE id = p_id;
    IF v_app.status IN ('approved', 'rejected') THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'application_id',
            format('application %s is already %s', p_id, v_app.status);
        RETURN;
    END IF;
    SELECT * INTO v_producer FROM registry.producers WHERE id = v_app.producer_id FOR SHARE;
    SELECT hs6 INTO v_hs6 FROM registry.products WHERE id = v_app.product_id;
    IF NOT p_approve THEN
        IF p_reason = '' THEN
            RETURN QUERY SELECT 'invalid', NULL::bytea, 'reason', 'is required when rejecting';
            RETURN;
        END IF;
        UPDATE registry.applications
           SET status = 'rejected', decided_by = p_decided_by, reason = p_reason,
               version = version + 1, updated_at = v_at
         WHERE id = p_id;
        PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.application.rejected',
                         'application/' || p_id, 'ovop.v1.Application', p_event, v_hs6,
                         v_producer.territory_code, NULL, p_request_id);
        PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
        RETURN QUERY SELECT 'ok', p_reply, '', '';
        RETURN;
    END IF;
    IF v_app.status <> 'scored' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'application_id',
            format('application %s is %s: score it before approving', p_id, v_app.status);
        RETURN;
    END IF;
    IF v_app.stars < 1 THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'application_id',
            format('application %s scored %s points, below every star threshold: it can only '
                   'be rejected', p_id, v_app.total);
        RETURN;
    END IF;
    IF v_app.approval_level <> p_level THEN
        RETURN QUERY SELECT 'denied', NULL::bytea, 'level',
            format('application %s has %s star%s: it must be approved at %s level, not %s',
                   p_id, v_app.stars, CASE WHEN v_app.stars = 1 THEN '' ELSE 's' END,
                   v_app.approval_level, p_level);
        RETURN;
    END IF;
    IF v_producer.status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'application_id',
            format('producer %s is %s: a certificate can be issued only to an active producer',
                   v_producer.id, v_producer.status);
        RETURN;
    END IF;
    v_problem := registry.today_problem(p_today);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, '', v_problem;
        RETURN;
    END IF;
    UPDATE registry.applications
       SET status = 'approved', decided_by = p_decided_by, reason = p_reason,
           certificate_number = p_number, version = version + 1, updated_at = v_at
     WHERE id = p_id;
    INSERT INTO registry.certificates (number, producer_id, product_id, application_id, stars,
                                       issued_on, expires_on, status, updated_at)
    VALUES (p_number, v_app.producer_id, v_app.product_id, p_id, v_app.stars, p_today,
            registry.certificate_expiry(p_today), 'active', v_at);
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.application.approved',
                     'application/' || p_id, 'ovop.v1.Application', p_event, v_hs6,
                     v_producer.territory_code, NULL, p_request_id);
    PERFORM bus.emit(p_cert_event_id, '/ovop/registry', 'ovop.registry.certificate.issued',
                     'certificate/' || p_number, 'ovop.v1.Certificate', p_cert_event, v_hs6,
                     v_producer.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Locks certificate p_number for the rest of the transaction; as registry.lock_application.
CREATE FUNCTION registry.lock_certificate(p_number text, p_version int) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_version int;
BEGIN
    SELECT version INTO v_version FROM registry.certificates WHERE number = p_number FOR UPDATE;
    IF NOT FOUND THEN
        RETURN ARRAY['not_found', 'number', format('no certificate with number %s', p_number)];
    ELSIF v_version <> p_version THEN
        RETURN ARRAY['stale', 'version',
            format('certificate %s is at version %s, not %s: read it again and reapply your '
                   'change', p_number, v_version, p_version)];
    END IF;
    RETURN NULL;
END
$$;

-- Renews an active or expired certificate of an active producer: a new certificate
-- p_new_number issued p_today with the same stars, renewed_from the old one, which stays
-- as it is, as history. A certificate is renewed at most once (renew the newest).
CREATE FUNCTION registry.renew_certificate(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_number text, p_version int, p_new_number text, p_today date, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cert registry.certificates%ROWTYPE;
    v_refusal text[];
    v_producer registry.producers%ROWTYPE;
    v_next text;
    v_hs6 text;
    v_problem text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_refusal := registry.lock_certificate(p_number, p_version);
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal[1], NULL::bytea, v_refusal[2], v_refusal[3];
        RETURN;
    END IF;
    SELECT * INTO v_cert FROM registry.certificates WHERE number = p_number;
    IF v_cert.status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
            format('certificate %s is %s: only an active or expired certificate can be renewed',
                   p_number, v_cert.status);
        RETURN;
    END IF;
    SELECT number INTO v_next FROM registry.certificates WHERE renewed_from = p_number;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'number',
            format('certificate %s was already renewed as %s: renew %s', p_number, v_next,
                   v_next);
        RETURN;
    END IF;
    SELECT * INTO v_producer FROM registry.producers WHERE id = v_cert.producer_id FOR SHARE;
    IF v_producer.status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
            format('producer %s is %s: a certificate can be renewed only for an active producer',
                   v_producer.id, v_producer.status);
        RETURN;
    END IF;
    v_problem := registry.today_problem(p_today);
    IF v_problem IS NOT NULL THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, '', v_problem;
        RETURN;
    END IF;
    INSERT INTO registry.certificates (number, producer_id, product_id, application_id, stars,
                                       issued_on, expires_on, status, renewed_from, updated_at)
    VALUES (p_new_number, v_cert.producer_id, v_cert.product_id, v_cert.application_id,
            v_cert.stars, p_today, registry.certificate_expiry(p_today), 'active', p_number,
            registry.at_us(p_at_us));
    SELECT hs6 INTO v_hs6 FROM registry.products WHERE id = v_cert.product_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', 'ovop.registry.certificate.renewed',
                     'certificate/' || p_new_number, 'ovop.v1.Certificate', p_event, v_hs6,
                     v_producer.territory_code, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Suspends (active -> suspended), reinstates (suspended -> active, unless expired meanwhile)
-- or revokes (active or suspended -> revoked, final) a certificate. p_action is 'suspend',
-- 'reinstate' or 'revoke'; the reason becomes the certificate's.
CREATE FUNCTION registry.change_certificate(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_number text, p_version int, p_action text, p_reason text, p_at_us bigint,
    p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql AS $$
DECLARE
    v_prev bytea;
    v_cert registry.certificates%ROWTYPE;
    v_refusal text[];
    v_shown text;
    v_status text;
    v_type text;
    v_soate text;
    v_hs6 text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    v_refusal := registry.lock_certificate(p_number, p_version);
    IF v_refusal IS NOT NULL THEN
        RETURN QUERY SELECT v_refusal[1], NULL::bytea, v_refusal[2], v_refusal[3];
        RETURN;
    END IF;
    SELECT * INTO v_cert FROM registry.certificates WHERE number = p_number;
    v_shown := registry.certificate_status(v_cert.status, v_cert.expires_on);
    IF v_cert.status = 'revoked' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
            format('certificate %s is revoked; revocation is final', p_number);
        RETURN;
    END IF;
    IF p_action = 'suspend' THEN
        IF v_shown <> 'active' THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
                format('certificate %s is %s: only an active certificate can be suspended',
                       p_number, v_shown);
            RETURN;
        END IF;
        v_status := 'suspended';
        v_type := 'ovop.registry.certificate.suspended';
    ELSIF p_action = 'reinstate' THEN
        IF v_cert.status <> 'suspended' THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
                format('certificate %s is %s: only a suspended certificate can be reinstated',
                       p_number, v_shown);
            RETURN;
        END IF;
        IF v_cert.expires_on <= current_date THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'number',
                format('certificate %s expired on %s while suspended: the producer must apply '
                       'again', p_number, v_cert.expires_on);
            RETURN;
        END IF;
        v_status := 'active';
        v_type := 'ovop.registry.certificate.reinstated';
    ELSIF p_action = 'revoke' THEN
        v_status := 'revoked';
        v_type := 'ovop.registry.certificate.revoked';
    ELSE
        RAISE EXCEPTION 'unknown certificate action %', p_action;
    END IF;
    UPDATE registry.certificates
       SET status = v_status, reason = p_reason, version = version + 1,
           updated_at = registry.at_us(p_at_us)
     WHERE number = p_number;
    SELECT p.territory_code, pr.hs6 INTO v_soate, v_hs6
      FROM registry.producers p, registry.products pr
     WHERE p.id = v_cert.producer_id AND pr.id = v_cert.product_id;
    PERFORM bus.emit(p_event_id, '/ovop/registry', v_type, 'certificate/' || p_number,
                     'ovop.v1.Certificate', p_event, v_hs6, v_soate, NULL, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;
