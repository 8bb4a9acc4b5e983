-- 0004 registry: the programme's registers. Producers, their members and products,
-- cooperatives, specializations of territories, and brand certification. Mutations go
-- through one-statement functions (0005 onwards) that also write events and idempotency rows.

-- SOATE prefix of a code: the code without its trailing all-zero levels
-- (417 | 2-digit oblast | 3-digit rayon | 3-digit aiyl aimak | 3-digit village), so that a
-- region's prefix covers every territory inside it.
CREATE FUNCTION registry.soate_prefix(p_code text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN substr(p_code, 6) = '000000000' THEN substr(p_code, 1, 5)
        WHEN substr(p_code, 9) = '000000' THEN substr(p_code, 1, 8)
        WHEN substr(p_code, 12) = '000' THEN substr(p_code, 1, 11)
        ELSE p_code END;
$$;

-- The HS codes of typical OVOP exports (deploy/data/hs_codes.csv). `origin` drives the
-- sanitary documents an export needs: plant products a phytosanitary certificate, animal
-- products a veterinary one.
CREATE TABLE registry.hs_codes (
    hs6 char(6) PRIMARY KEY CHECK (hs6 ~ '^[0-9]{6}$'),
    description text NOT NULL,
    unit text NOT NULL,
    origin text NOT NULL CHECK (origin IN ('plant', 'animal', 'other'))
);
INSERT INTO registry.hs_codes (hs6, description, unit, origin) VALUES
    ('071333', 'Dried kidney beans (Phaseolus vulgaris)', 'kg', 'plant'),
    ('080231', 'Walnuts in shell', 'kg', 'plant'),
    ('080232', 'Walnuts shelled', 'kg', 'plant'),
    ('081310', 'Dried apricots', 'kg', 'plant'),
    ('081320', 'Prunes', 'kg', 'plant'),
    ('081340', 'Other dried fruit', 'kg', 'plant'),
    ('081350', 'Mixtures of nuts or dried fruits', 'kg', 'plant'),
    ('080620', 'Raisins', 'kg', 'plant'),
    ('080910', 'Fresh apricots', 'kg', 'plant'),
    ('080921', 'Fresh sour cherries', 'kg', 'plant'),
    ('080929', 'Fresh sweet cherries', 'kg', 'plant'),
    ('080930', 'Fresh peaches', 'kg', 'plant'),
    ('081190', 'Frozen fruit', 'kg', 'plant'),
    ('040900', 'Natural honey', 'kg', 'animal'),
    ('071239', 'Dried mushrooms', 'kg', 'plant'),
    ('200989', 'Single fruit juice (sea-buckthorn; pomegranate)', 'l', 'other'),
    ('200799', 'Jams and fruit jellies', 'kg', 'other'),
    ('151590', 'Other fixed vegetable oils (sea-buckthorn oil)', 'kg', 'other'),
    ('340111', 'Toilet soap', 'pcs', 'other'),
    ('510111', 'Greasy shorn wool', 'kg', 'animal'),
    ('510211', 'Fine hair of Kashmir goats', 'kg', 'animal'),
    ('560221', 'Felt of wool', 'kg', 'other'),
    ('570500', 'Felt carpets (shyrdak; ala-kiyiz)', 'm2', 'other'),
    ('950300', 'Felt toys and figures', 'pcs', 'other'),
    ('640520', 'Felt slippers', 'pair', 'other'),
    ('630790', 'Other made-up textile articles', 'pcs', 'other');

-- Territories by code and date as a plain btree (the EXCLUDE constraint's GiST index answers
-- the same lookups several times slower).
CREATE INDEX territories_code ON registry.territories (code, valid_from);

CREATE SEQUENCE registry.ids;

CREATE TABLE registry.producers (
    id bigint PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('individual', 'family_group', 'cooperative', 'sme')),
    legal_name text NOT NULL CHECK (legal_name <> '' AND length(legal_name) <= 300),
    tax_id char(14) NOT NULL UNIQUE CHECK (tax_id ~ '^[0-9]{14}$'),
    phone text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    address text NOT NULL DEFAULT '',
    territory_code char(14) NOT NULL,
    lat double precision CHECK (lat BETWEEN -90 AND 90),
    lon double precision CHECK (lon BETWEEN -180 AND 180),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended', 'closed')),
    status_reason text NOT NULL DEFAULT '',
    -- Members of a group, [[name, role, tax id], ...] in order: read with the producer, never
    -- queried on their own, so they live in the row.
    members jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(members) = 'array'),
    version int NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', legal_name)) STORED
);
CREATE INDEX producers_territory ON registry.producers (territory_code bpchar_pattern_ops, id);
CREATE INDEX producers_search ON registry.producers USING gin (search);

CREATE TABLE registry.products (
    id bigint PRIMARY KEY,
    producer_id bigint NOT NULL REFERENCES registry.producers,
    name_ru text NOT NULL DEFAULT '',
    name_en text NOT NULL DEFAULT '',
    name_ky text NOT NULL DEFAULT '',
    category text NOT NULL CHECK (category <> ''),
    hs6 char(6) NOT NULL REFERENCES registry.hs_codes,
    -- The producer's territory, copied by triggers (0005) so that "products under this HS
    -- prefix in this region" is one index range.
    territory_code char(14) NOT NULL,
    unit text NOT NULL,
    capacity_per_month numeric(14, 3) NOT NULL CHECK (capacity_per_month > 0),
    season_months smallint[] NOT NULL DEFAULT '{}',
    price_usd numeric(14, 2) NOT NULL CHECK (price_usd >= 0),
    raw_materials text[] NOT NULL DEFAULT '{}',
    certifications text[] NOT NULL DEFAULT '{}',
    version int NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', name_ru || ' ' || name_en || ' ' || name_ky || ' ' || category))
        STORED,
    CONSTRAINT products_some_name CHECK (name_ru <> '' OR name_en <> '' OR name_ky <> '')
);
CREATE INDEX products_producer ON registry.products (producer_id);
CREATE INDEX products_hs ON registry.products (hs6 bpchar_pattern_ops, producer_id);
-- "Under this HS prefix in this region (district)": equality on the region's (district's)
-- digits, then a range on the HS code.
CREATE INDEX products_region_hs ON registry.products
    (left(territory_code::text, 5), hs6 bpchar_pattern_ops, producer_id);
CREATE INDEX products_district_hs ON registry.products
    (left(territory_code::text, 8), hs6 bpchar_pattern_ops, producer_id);
CREATE INDEX products_category ON registry.products (category, producer_id);
CREATE INDEX products_search ON registry.products USING gin (search);

CREATE TABLE registry.cooperatives (
    id bigint PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name <> '' AND length(name) <= 300),
    territory_code char(14) NOT NULL,
    founded_on date NOT NULL,
    version int NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX cooperatives_territory ON registry.cooperatives (territory_code bpchar_pattern_ops);

-- Membership periods; a producer is in a cooperative at most once at any date.
CREATE TABLE registry.cooperative_members (
    cooperative_id bigint NOT NULL REFERENCES registry.cooperatives,
    producer_id bigint NOT NULL REFERENCES registry.producers,
    joined_on date NOT NULL,
    left_on date CHECK (left_on >= joined_on),
    CONSTRAINT cooperative_members_no_overlap EXCLUDE USING gist (
        cooperative_id WITH =, producer_id WITH =, daterange(joined_on, left_on, '[)') WITH &&)
);
CREATE INDEX cooperative_members_producer ON registry.cooperative_members (producer_id);

CREATE TABLE registry.specializations (
    id bigint PRIMARY KEY,
    territory_code char(14) NOT NULL,
    hs6 char(6) NOT NULL REFERENCES registry.hs_codes,
    narrative text NOT NULL DEFAULT '',
    declared_on date NOT NULL,
    withdrawn_on date CHECK (withdrawn_on >= declared_on),
    version int NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX specializations_current ON registry.specializations (territory_code, hs6)
    WHERE withdrawn_on IS NULL;
CREATE INDEX specializations_hs ON registry.specializations (hs6 bpchar_pattern_ops);

-- The certification rubric: criteria with their maximum points, and star thresholds.
CREATE TABLE registry.rubric_criteria (
    name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z_]*$'),
    max_points int NOT NULL CHECK (max_points BETWEEN 1 AND 1000),
    ord int NOT NULL
);
INSERT INTO registry.rubric_criteria VALUES ('community', 40, 1), ('marketing', 25, 2),
                                            ('quality', 35, 3);
CREATE TABLE registry.star_thresholds (
    stars int PRIMARY KEY CHECK (stars BETWEEN 1 AND 5),
    min_points int NOT NULL CHECK (min_points >= 0)
);
INSERT INTO registry.star_thresholds VALUES (1, 50), (2, 60), (3, 70), (4, 80), (5, 90);
CREATE TABLE registry.rubric_version (
    id int PRIMARY KEY CHECK (id = 1),
    version int NOT NULL
);
INSERT INTO registry.rubric_version VALUES (1, 1);

CREATE TABLE registry.applications (
    id bigint PRIMARY KEY,
    producer_id bigint NOT NULL REFERENCES registry.producers,
    product_id bigint NOT NULL REFERENCES registry.products,
    status text NOT NULL CHECK (status IN ('submitted', 'scored', 'approved', 'rejected')),
    scores jsonb NOT NULL DEFAULT '[]',
    total int NOT NULL DEFAULT 0,
    stars int NOT NULL DEFAULT 0 CHECK (stars BETWEEN 0 AND 5),
    approval_level text NOT NULL DEFAULT '',
    committee text NOT NULL DEFAULT '',
    decided_by text NOT NULL DEFAULT '',
    reason text NOT NULL DEFAULT '',
    certificate_number text,
    version int NOT NULL DEFAULT 1,
    submitted_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX applications_producer ON registry.applications (producer_id);

CREATE SEQUENCE registry.certificate_numbers;
CREATE TABLE registry.certificates (
    number text PRIMARY KEY CHECK (number ~ '^OVOP-[0-9]{4}-[0-9]{6}$'),
    producer_id bigint NOT NULL REFERENCES registry.producers,
    product_id bigint NOT NULL REFERENCES registry.products,
    application_id bigint NOT NULL REFERENCES registry.applications,
    stars int NOT NULL CHECK (stars BETWEEN 1 AND 5),
    issued_on date NOT NULL,
    expires_on date NOT NULL CHECK (expires_on > issued_on),
    status text NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    reason text NOT NULL DEFAULT '',
    renewed_from text REFERENCES registry.certificates,
    version int NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL
);
CREATE INDEX certificates_producer ON registry.certificates (producer_id, status, expires_on);

-- Highest stars of a certificate valid on a date (0 when none): expiry needs no job, it is
-- read from the dates.
CREATE FUNCTION registry.producer_stars(p_producer bigint, p_on date DEFAULT current_date)
RETURNS int LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(stars), 0) FROM registry.certificates
     WHERE producer_id = p_producer AND status = 'active'
       AND issued_on <= p_on AND expires_on > p_on;
$$;

GRANT USAGE ON SEQUENCE registry.ids, registry.certificate_numbers TO ovop_registry;
GRANT ALL ON ALL TABLES IN SCHEMA registry TO ovop_registry;
