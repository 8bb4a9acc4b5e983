-- verification: every brand certificate carries a public verification code, printed as
-- a QR code on packaging, by which anyone (a buyer in a shop, no sign-in) reads what the
-- certificate publishes through ovop-webd and ovop.registry VerifyCertificate.
--
-- The code is 13 random Crockford base32 digits (65 bits from PostgreSQL's strong random
-- source, gen_random_uuid()) and a check digit, the value modulo 37 (Crockford's check
-- symbol); draws whose check would be one of the five extra symbols *~$=U are drawn again,
-- so a code is 14 characters of the 32-symbol alphabet, about 64.8 bits of entropy. The
-- check digit catches every single wrong digit and every swap of two neighbours before any
-- lookup (common/vcode.c does the same in C). It is derived from nothing: no number, no
-- date, no personal data. It is unique, set once at insert and never changed, and since
-- certificates are never deleted, never reused.

-- The Crockford check digit of a string of base32 digits: its value modulo 37, or NULL
-- when that is 32 or more (no digit of the alphabet).
CREATE FUNCTION registry.vcode_check(p_digits text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    c_alphabet CONSTANT text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    v_mod int := 0;
BEGIN
    FOR i IN 1 .. length(p_digits) LOOP
        v_mod := (v_mod * 32 + strpos(c_alphabet, substr(p_digits, i, 1)) - 1) % 37;
    END LOOP;
    RETURN CASE WHEN v_mod < 32 THEN substr(c_alphabet, v_mod + 1, 1) END;
END;
$$;

-- A fresh code: 13 random digits and their check digit.
CREATE FUNCTION registry.new_verification_code() RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    c_alphabet CONSTANT text := '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    v_hex text;
    v_bits bit(96);
    v_digits text;
    v_check text;
BEGIN
    LOOP
        -- 96 of a v4 UUID's 122 random bits: its hex digits without the version and variant.
        v_hex := replace(gen_random_uuid()::text, '-', '');
        v_bits := ('x' || substr(v_hex, 1, 12))::bit(48) || ('x' || substr(v_hex, 21, 12))::bit(48);
        v_digits := '';
        FOR i IN 0 .. 12 LOOP
            v_digits := v_digits || substr(c_alphabet, substring(v_bits FROM i * 5 + 1 FOR 5)::int + 1, 1);
        END LOOP;
        v_check := registry.vcode_check(v_digits);
        CONTINUE WHEN v_check IS NULL;
        CONTINUE WHEN EXISTS (SELECT 1 FROM registry.certificates
                               WHERE verification_code = v_digits || v_check);
        RETURN v_digits || v_check;
    END LOOP;
END;
$$;

ALTER TABLE registry.certificates ADD COLUMN verification_code text
    CHECK (verification_code ~ '^[0-9A-HJKMNP-TV-Z]{14}$');
UPDATE registry.certificates SET verification_code = registry.new_verification_code();
ALTER TABLE registry.certificates ALTER COLUMN verification_code SET NOT NULL;
CREATE UNIQUE INDEX certificates_verification_code ON registry.certificates (verification_code);

-- Issue and renewal (registry.decide_application, registry.renew_certificate) insert
-- without a code: it is drawn here, so no function that issues needs to know of it.
CREATE FUNCTION registry.certificate_code() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.verification_code := registry.new_verification_code();
    ELSIF NEW.verification_code IS DISTINCT FROM OLD.verification_code THEN
        RAISE EXCEPTION 'the verification code of certificate % never changes', OLD.number;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER certificates_code BEFORE INSERT OR UPDATE ON registry.certificates
    FOR EACH ROW EXECUTE FUNCTION registry.certificate_code();

-- What a certificate publishes, by its code: the product, the producer's public name (an
-- organisation's; an individual's or a family's name is personal data and is not shown),
-- where it comes from (village, district, region, each in Russian, English and Kyrgyz), the
-- specializations declared there, stars, dates and the status of today. No tax id, no
-- person's name, no contact.
CREATE FUNCTION registry.verify_certificate(p_code text)
RETURNS TABLE (code text, number text, product_name_ru text, product_name_en text,
               product_name_ky text, hs_code text, hs_description text, producer_kind text,
               producer_name text, village jsonb, district jsonb, region jsonb,
               specializations jsonb, stars int, issued_on text, expires_on text, status text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE c AS (
        SELECT c.*, p.kind AS producer_kind, p.legal_name, p.territory_code
          FROM registry.certificates c JOIN registry.producers p ON p.id = c.producer_id
         WHERE c.verification_code = p_code
    ), up AS (
        SELECT t.code, t.kind, t.parent_code, t.name_ru, t.name_en, t.name_ky, 0 AS depth
          FROM registry.territories t JOIN c ON t.code = c.territory_code
        UNION ALL
        SELECT t.code, t.kind, t.parent_code, t.name_ru, t.name_en, t.name_ky, up.depth + 1
          FROM registry.territories t JOIN up ON t.code = up.parent_code
         WHERE up.depth < 8
    ), named AS (
        SELECT CASE WHEN kind IN ('village', 'town') THEN 'village'
                    WHEN kind IN ('rayon', 'city_oblast', 'city_district') THEN 'district'
                    WHEN kind IN ('oblast', 'city_republican') THEN 'region' END AS level,
               jsonb_build_object('code', code, 'name_ru', name_ru, 'name_en', name_en,
                                  'name_ky', name_ky) AS place, depth
          FROM up
    )
    SELECT c.verification_code, c.number, pr.name_ru, pr.name_en, pr.name_ky, pr.hs6::text,
           coalesce(h.description, ''), c.producer_kind,
           CASE WHEN c.producer_kind IN ('cooperative', 'sme') THEN c.legal_name ELSE '' END,
           (SELECT place FROM named WHERE level = 'village' ORDER BY depth LIMIT 1),
           (SELECT place FROM named WHERE level = 'district' ORDER BY depth LIMIT 1),
           (SELECT place FROM named WHERE level = 'region' ORDER BY depth LIMIT 1),
           coalesce((SELECT jsonb_agg(DISTINCT jsonb_build_object(
                                'hs_code', s.hs6::text,
                                'description', coalesce(sh.description, '')))
                       FROM registry.specializations s
                       LEFT JOIN registry.hs_codes sh ON sh.hs6 = s.hs6
                      WHERE s.territory_code IN (SELECT up.code FROM up)
                        AND s.declared_on <= current_date
                        AND (s.withdrawn_on IS NULL OR s.withdrawn_on > current_date)), '[]'),
           c.stars, c.issued_on::text, c.expires_on::text,
           registry.certificate_status(c.status, c.expires_on)
      FROM c JOIN registry.products pr ON pr.id = c.product_id
      LEFT JOIN registry.hs_codes h ON h.hs6 = pr.hs6;
$$;
