-- 0017 registry scope: a principal with a territory (a district or regional officer) changes
-- registry data only inside it. bus.act() (0016) makes the principal's territory the
-- transaction's setting ovop.scope before any mutation function runs ('' or unset: the whole
-- country), and the triggers below check every row a change writes, so no function, present
-- or future, can forget the rule. A row is inside when its territory is the scope itself or
-- lies below it in the tree of registry.territories (parents, not code prefixes: territories
-- are re-parented); a change must find the row inside both before and after it (a producer
-- is neither moved out of the scope nor into it).
--
-- Where a row is:
--   producers, cooperatives, specializations  their territory_code
--   products                                  their producer's (territory_code, kept by 0005)
--   cooperative members                       the cooperative's and the member producer's
--   applications, certificates                their producer's
--   territories                               their parent (a scoped principal may change
--                                             only territories strictly below its scope)
--   the rubric, HS codes                      the whole country: outside every scope
--
-- A refusal raises SQLSTATE OV403 (the message names the record, its territory and the
-- scope; the detail is a JSON object of the codes) and rolls the whole change back: the row,
-- its events and its stored reply. registryd answers it as PERMISSION_DENIED, reason
-- OUT_OF_SCOPE (common/dbcall.c). A code of our own rather than 42501: PostgreSQL raises
-- 42501 itself for a missing privilege, which is a deployment fault, not the client's.

-- The version of p_code the scope rules place things by: the one valid today, else its
-- latest (a retired village still has its place, for the record that points at it).
CREATE FUNCTION registry.territory_now(p_code text) RETURNS registry.territories
LANGUAGE sql STABLE AS $$
    SELECT * FROM registry.territories
     WHERE code = p_code::bpchar
     ORDER BY (valid_from <= current_date AND (valid_to IS NULL OR valid_to > current_date)) DESC,
              valid_from DESC
     LIMIT 1;
$$;

-- Whether p_code is p_scope or lies below it in today's tree.
CREATE FUNCTION registry.in_scope(p_code text, p_scope text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_code text := p_code;
BEGIN
    -- SOATE has five levels: ten steps end the walk a hand-made cycle would make endless.
    FOR i IN 1..10 LOOP
        IF v_code IS NULL THEN
            RETURN false;
        ELSIF v_code = p_scope THEN
            RETURN true;
        END IF;
        v_code := (registry.territory_now(v_code)).parent_code;
    END LOOP;
    RETURN false;
END
$$;

-- "Batken District (41705214000000)", for messages.
CREATE FUNCTION registry.territory_label(p_code text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_code IS NULL THEN 'no territory'
                ELSE coalesce((SELECT coalesce(nullif(t.name_en, ''), t.name_ru)
                                 FROM registry.territory_now(p_code) t
                                WHERE t.code IS NOT NULL) || ' (' || p_code || ')', p_code) END;
$$;

-- Raises OV403 unless the transaction's principal may change p_what located at p_code: it
-- has no scope, or p_code is inside it. p_moving says p_code is where p_what would go.
CREATE FUNCTION registry.require_scope(p_what text, p_code text, p_moving boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_scope text := coalesce(current_setting('ovop.scope', true), '');
BEGIN
    IF v_scope = '' OR registry.in_scope(p_code, v_scope) THEN
        RETURN;
    END IF;
    RAISE EXCEPTION '% %, outside the territory of principal %: %', p_what,
        CASE WHEN p_moving THEN 'cannot move to' ELSE 'is in' END ||
            ' ' || registry.territory_label(p_code),
        coalesce(current_setting('ovop.principal', true), ''), registry.territory_label(v_scope)
        USING ERRCODE = 'OV403',
              DETAIL = json_build_object('territory', coalesce(p_code, ''),
                                         'scope', v_scope)::text;
END
$$;

-- Rows located by their own territory_code (producers, products, cooperatives,
-- specializations); TG_ARGV[0] is the noun of the messages. A new row is "a new producer":
-- the id registryd reserved for it means nothing to the client yet.
CREATE FUNCTION registry.scope_located() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM registry.require_scope('a new ' || TG_ARGV[0], NEW.territory_code);
        RETURN NULL;
    END IF;
    PERFORM registry.require_scope(TG_ARGV[0] || ' ' || OLD.id, OLD.territory_code);
    IF TG_OP = 'UPDATE' AND NEW.territory_code <> OLD.territory_code THEN
        PERFORM registry.require_scope(TG_ARGV[0] || ' ' || NEW.id, NEW.territory_code, true);
    END IF;
    RETURN NULL;
END
$$;

-- The producer's territory, for the rows located at their producer.
CREATE FUNCTION registry.producer_territory(p_producer bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT territory_code::text FROM registry.producers WHERE id = p_producer;
$$;

-- Applications and certificates: located at their producer. TG_ARGV[0] is the noun;
-- applications are named by id, certificates by number.
CREATE FUNCTION registry.scope_of_producer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_row jsonb := to_jsonb(CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END);
    v_what text := format('%s of producer %s',
                          CASE WHEN TG_OP = 'INSERT' THEN 'a new ' || TG_ARGV[0]
                               ELSE TG_ARGV[0] || ' ' ||
                                    coalesce(v_row->>'number', v_row->>'id') END,
                          v_row->>'producer_id');
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM registry.require_scope(v_what, registry.producer_territory(OLD.producer_id));
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.producer_id <> OLD.producer_id) THEN
        PERFORM registry.require_scope(v_what, registry.producer_territory(NEW.producer_id));
    END IF;
    RETURN NULL;
END
$$;

-- A membership links a cooperative and a producer: both must be inside.
CREATE FUNCTION registry.scope_member() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r registry.cooperative_members := CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
BEGIN
    PERFORM registry.require_scope('cooperative ' || r.cooperative_id,
                                   (SELECT territory_code FROM registry.cooperatives
                                     WHERE id = r.cooperative_id));
    PERFORM registry.require_scope('member producer ' || r.producer_id,
                                   registry.producer_territory(r.producer_id));
    IF TG_OP = 'UPDATE' AND (OLD.cooperative_id, OLD.producer_id)
                            <> (NEW.cooperative_id, NEW.producer_id) THEN
        PERFORM registry.require_scope('cooperative ' || OLD.cooperative_id,
                                       (SELECT territory_code FROM registry.cooperatives
                                         WHERE id = OLD.cooperative_id));
        PERFORM registry.require_scope('member producer ' || OLD.producer_id,
                                       registry.producer_territory(OLD.producer_id));
    END IF;
    RETURN NULL;
END
$$;

-- Territories are located at their parent: the version a change ends and the one it starts
-- must both hang below the scope.
CREATE FUNCTION registry.scope_territory() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM registry.require_scope('territory ' || OLD.code, OLD.parent_code);
    END IF;
    IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.parent_code IS DISTINCT FROM OLD.parent_code)
    THEN
        PERFORM registry.require_scope('territory ' || NEW.code, NEW.parent_code,
                                       TG_OP = 'UPDATE');
    END IF;
    RETURN NULL;
END
$$;

-- Data of the whole country (TG_ARGV[0] names it): outside every scope.
CREATE FUNCTION registry.scope_national() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_scope text := current_setting('ovop.scope', true);
BEGIN
    RAISE EXCEPTION '% applies to the whole country, outside the territory of principal %: %',
        TG_ARGV[0], coalesce(current_setting('ovop.principal', true), ''),
        registry.territory_label(v_scope)
        USING ERRCODE = 'OV403',
              DETAIL = json_build_object('territory', '', 'scope', v_scope)::text;
END
$$;

-- The triggers fire only for a scoped principal (the WHEN clause costs the whole country's
-- changes nothing), after the row is written, so they see it as stored (products' territory
-- is set by a BEFORE trigger of 0005). Triggers of one event fire in the order of their
-- names: producers_in_scope comes before producers_moved (0005), so moving a producer out is
-- refused as the producer's move, not as its first product's.
CREATE TRIGGER producers_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.producers
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_located('producer');
CREATE TRIGGER products_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.products
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_located('product');
CREATE TRIGGER cooperatives_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.cooperatives
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_located('cooperative');
CREATE TRIGGER specializations_in_scope AFTER INSERT OR UPDATE OR DELETE
    ON registry.specializations
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_located('specialization');
CREATE TRIGGER cooperative_members_in_scope AFTER INSERT OR UPDATE OR DELETE
    ON registry.cooperative_members
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_member();
CREATE TRIGGER applications_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.applications
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_of_producer('application');
CREATE TRIGGER certificates_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.certificates
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_of_producer('certificate');
CREATE TRIGGER territories_in_scope AFTER INSERT OR UPDATE OR DELETE ON registry.territories
    FOR EACH ROW WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_territory();
CREATE TRIGGER rubric_criteria_in_scope BEFORE INSERT OR UPDATE OR DELETE
    ON registry.rubric_criteria
    FOR EACH STATEMENT WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_national('the certification rubric');
CREATE TRIGGER star_thresholds_in_scope BEFORE INSERT OR UPDATE OR DELETE
    ON registry.star_thresholds
    FOR EACH STATEMENT WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_national('the certification rubric');
CREATE TRIGGER rubric_version_in_scope BEFORE INSERT OR UPDATE OR DELETE
    ON registry.rubric_version
    FOR EACH STATEMENT WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_national('the certification rubric');
CREATE TRIGGER hs_codes_in_scope BEFORE INSERT OR UPDATE OR DELETE ON registry.hs_codes
    FOR EACH STATEMENT WHEN (current_setting('ovop.scope', true) <> '')
    EXECUTE FUNCTION registry.scope_national('the list of HS codes');
