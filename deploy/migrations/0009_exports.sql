-- 0009 exports: export shipments, their lots and documents, the lifecycle as an explicit
-- state machine with its history, the phytosanitary compliance rule, and monthly export
-- statistics kept as aggregates. Which moves are allowed, which documents a shipment needs
-- and the compliance policy are rows of tables here, not code paths: change them with a
-- migration.
--
-- Mutations follow common/mutation.h: one statement per request (a function whose first five
-- parameters are service, request id, method, fingerprint and reply), writing the change, its
-- event(s) and the reply in one transaction. Depends on 0001-0005 only.
--
-- The mutation functions run with jit off: their statements are small, but the planner's
-- estimates for functions over arrays can cross the JIT threshold, and compiling costs far
-- more than running them.
--
-- Events carry an ovop.v1.ExportEvent payload that the functions assemble by concatenating
-- three protobuf encodings the daemon made (concatenation merges protobuf messages; the parts
-- set disjoint fields): the move (made per request), the goods and route (shipments.event_pb,
-- made once at creation) and the issued documents (documents.ref_pb, one repeated-field entry
-- each). So no move needs to read the shipment before its one statement.

-- Exact timestamps from the microseconds the daemon chose (to_timestamp takes a double and
-- may be a microsecond off).
CREATE FUNCTION exports.at_us(p_us bigint) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT timestamptz 'epoch' + p_us * interval '1 microsecond';
$$;

CREATE FUNCTION exports.us_of(p_at timestamptz) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (extract(epoch FROM p_at) * 1000000)::bigint;
$$;

-- Ids of shipments, documents and violation notices.
CREATE SEQUENCE exports.ids;

-- ---------------------------------------------------------------- reference data

-- ISO 3166-1 alpha-2 (from the tz database's iso3166.tab).
CREATE TABLE exports.countries (
    code char(2) PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    name_en text NOT NULL
);
INSERT INTO exports.countries (code, name_en) VALUES
    ('AD', 'Andorra'),
    ('AE', 'United Arab Emirates'),
    ('AF', 'Afghanistan'),
    ('AG', 'Antigua & Barbuda'),
    ('AI', 'Anguilla'),
    ('AL', 'Albania'),
    ('AM', 'Armenia'),
    ('AO', 'Angola'),
    ('AQ', 'Antarctica'),
    ('AR', 'Argentina'),
    ('AS', 'Samoa (American)'),
    ('AT', 'Austria'),
    ('AU', 'Australia'),
    ('AW', 'Aruba'),
    ('AX', 'Åland Islands'),
    ('AZ', 'Azerbaijan'),
    ('BA', 'Bosnia & Herzegovina'),
    ('BB', 'Barbados'),
    ('BD', 'Bangladesh'),
    ('BE', 'Belgium'),
    ('BF', 'Burkina Faso'),
    ('BG', 'Bulgaria'),
    ('BH', 'Bahrain'),
    ('BI', 'Burundi'),
    ('BJ', 'Benin'),
    ('BL', 'St Barthelemy'),
    ('BM', 'Bermuda'),
    ('BN', 'Brunei'),
    ('BO', 'Bolivia'),
    ('BQ', 'Caribbean NL'),
    ('BR', 'Brazil'),
    ('BS', 'Bahamas'),
    ('BT', 'Bhutan'),
    ('BV', 'Bouvet Island'),
    ('BW', 'Botswana'),
    ('BY', 'Belarus'),
    ('BZ', 'Belize'),
    ('CA', 'Canada'),
    ('CC', 'Cocos (Keeling) Islands'),
    ('CD', 'Congo (Dem. Rep.)'),
    ('CF', 'Central African Rep.'),
    ('CG', 'Congo (Rep.)'),
    ('CH', 'Switzerland'),
    ('CI', 'Côte d''Ivoire'),
    ('CK', 'Cook Islands'),
    ('CL', 'Chile'),
    ('CM', 'Cameroon'),
    ('CN', 'China'),
    ('CO', 'Colombia'),
    ('CR', 'Costa Rica'),
    ('CU', 'Cuba'),
    ('CV', 'Cape Verde'),
    ('CW', 'Curaçao'),
    ('CX', 'Christmas Island'),
    ('CY', 'Cyprus'),
    ('CZ', 'Czech Republic'),
    ('DE', 'Germany'),
    ('DJ', 'Djibouti'),
    ('DK', 'Denmark'),
    ('DM', 'Dominica'),
    ('DO', 'Dominican Republic'),
    ('DZ', 'Algeria'),
    ('EC', 'Ecuador'),
    ('EE', 'Estonia'),
    ('EG', 'Egypt'),
    ('EH', 'Western Sahara'),
    ('ER', 'Eritrea'),
    ('ES', 'Spain'),
    ('ET', 'Ethiopia'),
    ('FI', 'Finland'),
    ('FJ', 'Fiji'),
    ('FK', 'Falkland Islands'),
    ('FM', 'Micronesia'),
    ('FO', 'Faroe Islands'),
    ('FR', 'France'),
    ('GA', 'Gabon'),
    ('GB', 'Britain (UK)'),
    ('GD', 'Grenada'),
    ('GE', 'Georgia'),
    ('GF', 'French Guiana'),
    ('GG', 'Guernsey'),
    ('GH', 'Ghana'),
    ('GI', 'Gibraltar'),
    ('GL', 'Greenland'),
    ('GM', 'Gambia'),
    ('GN', 'Guinea'),
    ('GP', 'Guadeloupe'),
    ('GQ', 'Equatorial Guinea'),
    ('GR', 'Greece'),
    ('GS', 'South Georgia & the South Sandwich Islands'),
    ('GT', 'Guatemala'),
    ('GU', 'Guam'),
    ('GW', 'Guinea-Bissau'),
    ('GY', 'Guyana'),
    ('HK', 'Hong Kong'),
    ('HM', 'Heard Island & McDonald Islands'),
    ('HN', 'Honduras'),
    ('HR', 'Croatia'),
    ('HT', 'Haiti'),
    ('HU', 'Hungary'),
    ('ID', 'Indonesia'),
    ('IE', 'Ireland'),
    ('IL', 'Israel'),
    ('IM', 'Isle of Man'),
    ('IN', 'India'),
    ('IO', 'British Indian Ocean Territory'),
    ('IQ', 'Iraq'),
    ('IR', 'Iran'),
    ('IS', 'Iceland'),
    ('IT', 'Italy'),
    ('JE', 'Jersey'),
    ('JM', 'Jamaica'),
    ('JO', 'Jordan'),
    ('JP', 'Japan'),
    ('KE', 'Kenya'),
    ('KG', 'Kyrgyzstan'),
    ('KH', 'Cambodia'),
    ('KI', 'Kiribati'),
    ('KM', 'Comoros'),
    ('KN', 'St Kitts & Nevis'),
    ('KP', 'Korea (North)'),
    ('KR', 'Korea (South)'),
    ('KW', 'Kuwait'),
    ('KY', 'Cayman Islands'),
    ('KZ', 'Kazakhstan'),
    ('LA', 'Laos'),
    ('LB', 'Lebanon'),
    ('LC', 'St Lucia'),
    ('LI', 'Liechtenstein'),
    ('LK', 'Sri Lanka'),
    ('LR', 'Liberia'),
    ('LS', 'Lesotho'),
    ('LT', 'Lithuania'),
    ('LU', 'Luxembourg'),
    ('LV', 'Latvia'),
    ('LY', 'Libya'),
    ('MA', 'Morocco'),
    ('MC', 'Monaco'),
    ('MD', 'Moldova'),
    ('ME', 'Montenegro'),
    ('MF', 'St Martin (French)'),
    ('MG', 'Madagascar'),
    ('MH', 'Marshall Islands'),
    ('MK', 'North Macedonia'),
    ('ML', 'Mali'),
    ('MM', 'Myanmar (Burma)'),
    ('MN', 'Mongolia'),
    ('MO', 'Macau'),
    ('MP', 'Northern Mariana Islands'),
    ('MQ', 'Martinique'),
    ('MR', 'Mauritania'),
    ('MS', 'Montserrat'),
    ('MT', 'Malta'),
    ('MU', 'Mauritius'),
    ('MV', 'Maldives'),
    ('MW', 'Malawi'),
    ('MX', 'Mexico'),
    ('MY', 'Malaysia'),
    ('MZ', 'Mozambique'),
    ('NA', 'Namibia'),
    ('NC', 'New Caledonia'),
    ('NE', 'Niger'),
    ('NF', 'Norfolk Island'),
    ('NG', 'Nigeria'),
    ('NI', 'Nicaragua'),
    ('NL', 'Netherlands'),
    ('NO', 'Norway'),
    ('NP', 'Nepal'),
    ('NR', 'Nauru'),
    ('NU', 'Niue'),
    ('NZ', 'New Zealand'),
    ('OM', 'Oman'),
    ('PA', 'Panama'),
    ('PE', 'Peru'),
    ('PF', 'French Polynesia'),
    ('PG', 'Papua New Guinea'),
    ('PH', 'Philippines'),
    ('PK', 'Pakistan'),
    ('PL', 'Poland'),
    ('PM', 'St Pierre & Miquelon'),
    ('PN', 'Pitcairn'),
    ('PR', 'Puerto Rico'),
    ('PS', 'Palestine'),
    ('PT', 'Portugal'),
    ('PW', 'Palau'),
    ('PY', 'Paraguay'),
    ('QA', 'Qatar'),
    ('RE', 'Réunion'),
    ('RO', 'Romania'),
    ('RS', 'Serbia'),
    ('RU', 'Russia'),
    ('RW', 'Rwanda'),
    ('SA', 'Saudi Arabia'),
    ('SB', 'Solomon Islands'),
    ('SC', 'Seychelles'),
    ('SD', 'Sudan'),
    ('SE', 'Sweden'),
    ('SG', 'Singapore'),
    ('SH', 'St Helena'),
    ('SI', 'Slovenia'),
    ('SJ', 'Svalbard & Jan Mayen'),
    ('SK', 'Slovakia'),
    ('SL', 'Sierra Leone'),
    ('SM', 'San Marino'),
    ('SN', 'Senegal'),
    ('SO', 'Somalia'),
    ('SR', 'Suriname'),
    ('SS', 'South Sudan'),
    ('ST', 'Sao Tome & Principe'),
    ('SV', 'El Salvador'),
    ('SX', 'St Maarten (Dutch)'),
    ('SY', 'Syria'),
    ('SZ', 'Eswatini (Swaziland)'),
    ('TC', 'Turks & Caicos Is'),
    ('TD', 'Chad'),
    ('TF', 'French S. Terr.'),
    ('TG', 'Togo'),
    ('TH', 'Thailand'),
    ('TJ', 'Tajikistan'),
    ('TK', 'Tokelau'),
    ('TL', 'East Timor'),
    ('TM', 'Turkmenistan'),
    ('TN', 'Tunisia'),
    ('TO', 'Tonga'),
    ('TR', 'Turkey'),
    ('TT', 'Trinidad & Tobago'),
    ('TV', 'Tuvalu'),
    ('TW', 'Taiwan'),
    ('TZ', 'Tanzania'),
    ('UA', 'Ukraine'),
    ('UG', 'Uganda'),
    ('UM', 'US minor outlying islands'),
    ('US', 'United States'),
    ('UY', 'Uruguay'),
    ('UZ', 'Uzbekistan'),
    ('VA', 'Vatican City'),
    ('VC', 'St Vincent'),
    ('VE', 'Venezuela'),
    ('VG', 'Virgin Islands (UK)'),
    ('VI', 'Virgin Islands (US)'),
    ('VN', 'Vietnam'),
    ('VU', 'Vanuatu'),
    ('WF', 'Wallis & Futuna'),
    ('WS', 'Samoa (western)'),
    ('YE', 'Yemen'),
    ('YT', 'Mayotte'),
    ('ZA', 'South Africa'),
    ('ZM', 'Zambia'),
    ('ZW', 'Zimbabwe');

-- Named groups of countries that document rules refer to. Change membership by migration.
CREATE TABLE exports.country_groups (
    group_name text NOT NULL CHECK (group_name ~ '^[a-z][a-z0-9_]*$'),
    country char(2) NOT NULL REFERENCES exports.countries,
    PRIMARY KEY (group_name, country)
);
COMMENT ON TABLE exports.country_groups IS
    'eaeu: the Eurasian Economic Union; cis_fta: parties to the 2011 CIS free trade agreement '
    '(certificate of origin CT-1); gsp: countries whose GSP schemes cover Kyrgyzstan (Form A)';
INSERT INTO exports.country_groups (group_name, country)
SELECT 'eaeu', c FROM unnest(ARRAY['AM', 'BY', 'KG', 'KZ', 'RU']) c
UNION ALL
SELECT 'cis_fta', c FROM unnest(ARRAY['AM', 'BY', 'KG', 'KZ', 'MD', 'RU', 'TJ', 'UZ']) c
UNION ALL
SELECT 'gsp', c FROM unnest(ARRAY[
    'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT',
    'LV', 'LT', 'LU', 'MT', 'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE',
    'GB', 'CH', 'NO', 'JP', 'CA', 'AU', 'NZ', 'US', 'TR']) c;

-- Border crossing points (and airports) a shipment leaves through.
CREATE TABLE exports.border_points (
    code text PRIMARY KEY CHECK (code ~ '^KG-[A-Z0-9-]+$'),
    name_en text NOT NULL,
    soate char(14) NOT NULL CHECK (soate ~ '^417[0-9]{11}$'),
    modes text[] NOT NULL CHECK (modes <@ ARRAY['road', 'rail', 'air'] AND modes <> '{}'),
    neighbour char(2) REFERENCES exports.countries  -- NULL for airports
);
INSERT INTO exports.border_points (code, name_en, soate, modes, neighbour) VALUES
    ('KG-IRKESHTAM', 'Irkeshtam', '41706207000000', '{road}', 'CN'),
    ('KG-TORUGART', 'Torugart', '41704220000000', '{road}', 'CN'),
    ('KG-DOSTUK', 'Dostuk', '41706226000000', '{road}', 'UZ'),
    ('KG-AKJOL', 'Ak-Jol (Bishkek-Almaty road)', '41708000000000', '{road}', 'KZ'),
    ('KG-KAINDY', 'Kaindy railway station', '41708000000000', '{rail}', 'KZ'),
    ('KG-MANAS', 'Manas International Airport', '41708000000000', '{air}', NULL),
    ('KG-OSH-AIRPORT', 'Osh International Airport', '41721000000000', '{air}', NULL);

CREATE TABLE exports.document_types (
    code text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9_]*$'),
    ord int NOT NULL UNIQUE,
    name_en text NOT NULL
);
INSERT INTO exports.document_types (code, ord, name_en) VALUES
    ('contract', 1, 'Export contract'),
    ('invoice', 2, 'Commercial invoice'),
    ('cmr', 3, 'CMR road consignment note'),
    ('packing_list', 4, 'Packing list'),
    ('origin_ct1', 5, 'Certificate of origin CT-1'),
    ('origin_form_a', 6, 'Certificate of origin Form A'),
    ('origin_general', 7, 'Certificate of origin (non-preferential)'),
    ('conformity', 8, 'EAEU declaration or certificate of conformity'),
    ('phytosanitary', 9, 'Phytosanitary certificate'),
    ('veterinary', 10, 'Veterinary certificate'),
    ('customs_declaration', 11, 'Export customs declaration'),
    ('transport_waybill', 12, 'Rail (SMGS) or air waybill');

-- Which documents a shipment needs. A rule applies when every condition it sets holds; a
-- shipment needs the documents of every rule that applies.
CREATE TABLE exports.document_rules (
    id int PRIMARY KEY,
    doc_type text NOT NULL REFERENCES exports.document_types,
    destination_group text,                     -- NULL: any destination; else one in this group
    unless_groups text[] NOT NULL DEFAULT '{}', -- not for destinations in any of these groups
    product_origin text CHECK (product_origin IN ('plant', 'animal', 'other')),
                                                -- NULL: any goods; else a lot of this origin
                                                -- (registry.hs_codes.origin)
    transport_mode text CHECK (transport_mode IN ('road', 'rail', 'air')),  -- NULL: any
    note text NOT NULL
);
INSERT INTO exports.document_rules
    (id, doc_type, destination_group, unless_groups, product_origin, transport_mode, note)
VALUES
    (1, 'contract', NULL, '{}', NULL, NULL, 'every export'),
    (2, 'invoice', NULL, '{}', NULL, NULL, 'every export'),
    (3, 'packing_list', NULL, '{}', NULL, NULL, 'every export'),
    (4, 'cmr', NULL, '{}', NULL, 'road', 'international road carriage (CMR convention)'),
    (5, 'transport_waybill', NULL, '{}', NULL, 'rail', 'SMGS rail waybill'),
    (6, 'transport_waybill', NULL, '{}', NULL, 'air', 'air waybill'),
    (7, 'origin_ct1', 'cis_fta', '{}', NULL, NULL, 'CIS free trade agreement: CT-1'),
    (8, 'origin_form_a', 'gsp', '{cis_fta}', NULL, NULL, 'GSP preferences: Form A'),
    (9, 'origin_general', NULL, '{cis_fta,gsp}', NULL, NULL,
     'no preferential regime: a general certificate of origin'),
    (10, 'conformity', 'eaeu', '{}', NULL, NULL, 'EAEU technical regulations'),
    (11, 'phytosanitary', NULL, '{}', 'plant', NULL, 'plant products'),
    (12, 'veterinary', NULL, '{}', 'animal', NULL, 'animal products (honey, wool...)'),
    (13, 'customs_declaration', NULL, '{eaeu}', NULL, NULL,
     'goods leaving the EAEU customs territory');

CREATE TABLE exports.statuses (
    code text PRIMARY KEY,
    ord int NOT NULL UNIQUE,
    final bool NOT NULL
);
INSERT INTO exports.statuses (code, ord, final) VALUES
    ('draft', 1, false), ('declared', 2, false), ('documents_complete', 3, false),
    ('released', 4, false), ('departed', 5, false), ('delivered', 6, true),
    ('cancelled', 7, true), ('rejected', 8, true), ('returned', 9, true);

-- The lifecycle: every allowed move. agencies: who may record it ('{}': anyone, usually the
-- exporter); needs_documents: every required document issued and valid; phyto_check: refused
-- for plant goods while the exporter is blocked from phytosanitary certificates.
CREATE TABLE exports.transitions (
    from_status text NOT NULL REFERENCES exports.statuses,
    to_status text NOT NULL REFERENCES exports.statuses,
    agencies text[] NOT NULL DEFAULT '{}',
    needs_documents bool NOT NULL DEFAULT false,
    phyto_check bool NOT NULL DEFAULT false,
    PRIMARY KEY (from_status, to_status)
);
INSERT INTO exports.transitions (from_status, to_status, agencies, needs_documents, phyto_check)
VALUES
    ('draft', 'declared', '{}', false, true),
    ('declared', 'documents_complete', '{}', true, false),
    ('documents_complete', 'released', '{customs}', true, false),
    ('released', 'departed', '{customs}', false, false),
    ('departed', 'delivered', '{}', false, false),
    ('departed', 'returned', '{}', false, false),
    ('draft', 'cancelled', '{}', false, false),
    ('declared', 'cancelled', '{}', false, false),
    ('documents_complete', 'cancelled', '{}', false, false),
    ('declared', 'rejected', '{customs,plant_quarantine,veterinary}', false, false),
    ('documents_complete', 'rejected', '{customs,plant_quarantine,veterinary}', false, false),
    ('released', 'rejected', '{customs,plant_quarantine,veterinary}', false, false);

-- The compliance rule: `notices` violation notices from one destination country within
-- `window_length` block new phytosanitary certificates for the exporter (for every
-- destination) for `block_length` from the day of the notice that completes the count.
CREATE TABLE exports.compliance_policy (
    id int PRIMARY KEY CHECK (id = 1),
    notices int NOT NULL CHECK (notices >= 1),
    window_length interval NOT NULL,
    block_length interval NOT NULL
);
INSERT INTO exports.compliance_policy VALUES (1, 2, interval '12 months', interval '60 days');

-- ---------------------------------------------------------------- shipments

-- Updated on every move: keep room on each page so that moves stay HOT updates (no indexed
-- column but departed_at changes after creation).
CREATE TABLE exports.shipments (
    id bigint PRIMARY KEY,
    exporter_kind text NOT NULL CHECK (exporter_kind IN ('producer', 'cooperative')),
    exporter_id bigint NOT NULL,
    exporter_name text NOT NULL,
    buyer_name text NOT NULL CHECK (buyer_name <> ''),
    buyer_country char(2) NOT NULL REFERENCES exports.countries,
    buyer_address text NOT NULL DEFAULT '',
    destination char(2) NOT NULL REFERENCES exports.countries CHECK (destination <> 'KG'),
    incoterm text NOT NULL CHECK (incoterm IN ('EXW', 'FCA', 'CPT', 'CIP', 'DAP', 'DPU', 'DDP',
                                                'FAS', 'FOB', 'CFR', 'CIF')),
    transport_mode text NOT NULL CHECK (transport_mode IN ('road', 'rail', 'air')),
    vehicle text NOT NULL DEFAULT '',
    consignment_note text NOT NULL DEFAULT '',
    border_point text NOT NULL REFERENCES exports.border_points,
    planned_departure date NOT NULL,
    planned_arrival date CHECK (planned_arrival >= planned_departure),
    origin_territory char(14) NOT NULL,         -- the exporter's location
    hs6 char(6) NOT NULL,                       -- the heaviest lot's: events' hs6 dimension
    origins text[] NOT NULL,                    -- registry.hs_codes.origin of the lots
    -- The documents it needs, from exports.document_rules when it was created (a migration
    -- that changes the rules updates the shipments still open).
    required_docs text[] NOT NULL,
    net_kg numeric(16, 3) NOT NULL,
    value_usd numeric(16, 2) NOT NULL,
    value_som numeric(18, 2) NOT NULL,
    -- A CHECK, not a reference to exports.statuses: a foreign key would share-lock that
    -- table's row on every move, and every move of every shipment would meet on it.
    status text NOT NULL CHECK (status IN ('draft', 'declared', 'documents_complete', 'released',
                                           'departed', 'delivered', 'cancelled', 'rejected',
                                           'returned')),
    version int NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL DEFAULT '',
    status_at timestamptz NOT NULL,             -- when the current status was reached
    declared_at timestamptz,
    documents_complete_at timestamptz,
    released_at timestamptz,
    departed_at timestamptz,
    delivered_at timestamptz,
    departed_via text,                          -- the crossing point actually used
    stats_month date,                           -- the month it counts in while departed
    event_pb bytea NOT NULL                     -- ExportEvent fields 20-26 of its events
) WITH (fillfactor = 85);
CREATE INDEX shipments_exporter ON exports.shipments (exporter_kind, exporter_id, id);
CREATE INDEX shipments_territory ON exports.shipments (origin_territory bpchar_pattern_ops, id);
CREATE INDEX shipments_destination ON exports.shipments (destination, id);
CREATE INDEX shipments_created ON exports.shipments (created_at);
CREATE INDEX shipments_departed ON exports.shipments (departed_at) WHERE departed_at IS NOT NULL;

CREATE TABLE exports.lots (
    shipment_id bigint NOT NULL REFERENCES exports.shipments,
    ord smallint NOT NULL,
    product_id bigint NOT NULL REFERENCES registry.products,
    producer_id bigint NOT NULL REFERENCES registry.producers,
    hs6 char(6) NOT NULL,
    product_name text NOT NULL,
    quantity numeric(16, 3) NOT NULL CHECK (quantity > 0),
    unit text NOT NULL,
    net_kg numeric(16, 3) NOT NULL CHECK (net_kg > 0),
    value_usd numeric(16, 2) NOT NULL CHECK (value_usd > 0),
    value_som numeric(18, 2) NOT NULL CHECK (value_som >= 0),
    territory_code char(14) NOT NULL,           -- the producer's village
    PRIMARY KEY (shipment_id, ord)
);
CREATE INDEX lots_hs ON exports.lots (hs6 bpchar_pattern_ops, shipment_id);

CREATE TABLE exports.documents (
    id bigint PRIMARY KEY,
    shipment_id bigint NOT NULL REFERENCES exports.shipments,
    doc_type text NOT NULL,                     -- checked by the functions that write it
    number text NOT NULL CHECK (number <> ''),
    issuer text NOT NULL CHECK (issuer <> ''),
    issued_on date,
    valid_until date CHECK (valid_until >= issued_on),
    status text NOT NULL CHECK (status IN ('requested', 'issued', 'rejected', 'revoked')),
    status_reason text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    ref_pb bytea NOT NULL,                      -- its entry in events' documents (field 30)
    CONSTRAINT documents_issued_dated CHECK (status <> 'issued' OR issued_on IS NOT NULL),
    CONSTRAINT documents_one_number UNIQUE (shipment_id, doc_type, number)
);

-- Every move of every shipment: what, when, who (the request's caller) and which agency.
CREATE TABLE exports.shipment_history (
    shipment_id bigint NOT NULL,
    version int NOT NULL,                       -- the shipment's version after the move
    from_status text,
    to_status text NOT NULL,
    at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    caller text NOT NULL,
    agency text NOT NULL,
    reason text NOT NULL,
    reference text NOT NULL,
    border_point text,
    request_id text NOT NULL,
    event_id uuid NOT NULL,
    PRIMARY KEY (shipment_id, version)
);

CREATE TABLE exports.violation_notices (
    id bigint PRIMARY KEY,
    exporter_kind text NOT NULL CHECK (exporter_kind IN ('producer', 'cooperative')),
    exporter_id bigint NOT NULL,
    country char(2) NOT NULL REFERENCES exports.countries,
    noticed_on date NOT NULL,
    authority text NOT NULL,
    reference text NOT NULL,
    description text NOT NULL,
    shipment_id bigint REFERENCES exports.shipments,
    created_at timestamptz NOT NULL,
    created_by text NOT NULL
);
CREATE INDEX violation_notices_exporter
    ON exports.violation_notices (exporter_kind, exporter_id, noticed_on);
CREATE UNIQUE INDEX violation_notices_reference
    ON exports.violation_notices (exporter_kind, exporter_id, country, reference)
    WHERE reference <> '';

-- Export statistics, maintained by the moves that count: DEPARTED adds a shipment to the
-- month it departed in (Asia/Bishkek), RETURNED takes it out of that month again. One row per
-- (month, region, district, HS code, destination) and stripe: a transaction adds to the
-- stripe of its connection (pg_backend_pid() % 8), so concurrent writers on different
-- connections never wait for each other on a hot cell; readers sum the stripes, which
-- exports.fold_stats folds back into stripe 0 every few seconds.
CREATE TABLE exports.stats_monthly (
    month date NOT NULL,
    region char(14) NOT NULL,
    district char(14) NOT NULL,
    hs6 char(6) NOT NULL,
    destination char(2) NOT NULL,
    stripe smallint NOT NULL,
    -- Integers (grams, US cents, tyiyn) sum about three times faster than numeric.
    net_g bigint NOT NULL,
    usd_cents bigint NOT NULL,
    som_tyiyn bigint NOT NULL,
    shipments bigint NOT NULL,
    PRIMARY KEY (month, region, district, hs6, destination, stripe)
) WITH (
    -- Small and rewritten all the time: room for HOT updates, frequent vacuums, and no
    -- parallel scans (starting a worker costs more than reading it).
    fillfactor = 70, parallel_workers = 0, autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000
);

-- Folds the stripes of the statistics into stripe 0, so that readers sum about one row per
-- cell. Run by every exportd on a timer; one at a time (returns -1 when another runs). Rows
-- a writer holds right now are skipped (folded next time), so writers never wait for it;
-- rows are locked in key order, as writers lock theirs, so it deadlocks with none. Returns
-- the number of rows folded.
CREATE FUNCTION exports.fold_stats(p_max int DEFAULT 50000) RETURNS int
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_n int;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7310091) THEN
        RETURN -1;
    END IF;
    WITH picked AS (
        SELECT month, region, district, hs6, destination, stripe
          FROM exports.stats_monthly
         WHERE stripe <> 0
         ORDER BY month, region, district, hs6, destination, stripe
         LIMIT p_max
           FOR UPDATE SKIP LOCKED
    ), moved AS (
        DELETE FROM exports.stats_monthly t USING picked p
         WHERE (t.month, t.region, t.district, t.hs6, t.destination, t.stripe)
             = (p.month, p.region, p.district, p.hs6, p.destination, p.stripe)
        RETURNING t.*
    )
    INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination, stripe,
                                            net_g, usd_cents, som_tyiyn, shipments)
    SELECT month, region, district, hs6, destination, 0, sum(net_g), sum(usd_cents),
           sum(som_tyiyn), sum(shipments)
      FROM moved
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
       SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
           som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
           shipments = t.shipments + excluded.shipments;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END
$$;

-- ---------------------------------------------------------------- rules as functions

-- The oblast (or city of republican significance) and the rayon of a SOATE code.
CREATE FUNCTION exports.region_of(p_code text) RETURNS char(14)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (substr(p_code, 1, 5) || '000000000')::char(14);
$$;

CREATE FUNCTION exports.district_of(p_code text) RETURNS char(14)
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT (substr(p_code, 1, 8) || '000000')::char(14);
$$;

-- The month a moment falls in, in Kyrgyzstan.
CREATE FUNCTION exports.month_of(p_at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT date_trunc('month', p_at AT TIME ZONE 'Asia/Bishkek')::date;
$$;

-- The helpers below are PL/pgSQL, not SQL functions: a session plans a PL/pgSQL body once
-- and keeps the plan, where a SQL function called from another statement is planned again
-- on every call.

-- The document types a shipment to p_destination of goods of p_origins by p_mode needs, in
-- document_types order.
CREATE FUNCTION exports.required_documents(p_destination text, p_origins text[], p_mode text)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(array_agg(t.code ORDER BY t.ord), '{}')
          FROM exports.document_types t
         WHERE EXISTS (
             SELECT 1 FROM exports.document_rules r
              WHERE r.doc_type = t.code
                AND (r.destination_group IS NULL OR EXISTS (
                         SELECT 1 FROM exports.country_groups g
                          WHERE g.group_name = r.destination_group AND g.country = p_destination))
                AND NOT EXISTS (
                         SELECT 1 FROM exports.country_groups g
                          WHERE g.group_name = ANY (r.unless_groups)
                            AND g.country = p_destination)
                AND (r.product_origin IS NULL OR r.product_origin = ANY (p_origins))
                AND (r.transport_mode IS NULL OR r.transport_mode = p_mode)));
END
$$;

-- The required documents of a shipment that are not issued and valid today.
CREATE FUNCTION exports.missing_documents(p_shipment bigint) RETURNS text[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(array_agg(req.code ORDER BY req.n), '{}')
          FROM exports.shipments s,
               unnest(s.required_docs) WITH ORDINALITY AS req(code, n)
         WHERE s.id = p_shipment
           AND NOT EXISTS (
               SELECT 1 FROM exports.documents d
                WHERE d.shipment_id = p_shipment AND d.doc_type = req.code
                  AND d.status = 'issued'
                  AND (d.valid_until IS NULL OR d.valid_until >= current_date)));
END
$$;

-- The phytosanitary block of an exporter on p_on: the first day it is free again and the
-- country whose notices caused it, or no row. p_extra_country/p_extra_on add a notice not
-- stored yet (to preview the effect of recording it); pass NULL for none.
CREATE FUNCTION exports.phyto_block(p_kind text, p_id bigint, p_on date,
                                    p_extra_country text DEFAULT NULL,
                                    p_extra_on date DEFAULT NULL)
RETURNS TABLE (blocked_until date, country char(2)) LANGUAGE plpgsql STABLE ROWS 1 AS $$
BEGIN
    RETURN QUERY
    WITH n AS (
        SELECT v.id, v.country, v.noticed_on FROM exports.violation_notices v
         WHERE v.exporter_kind = p_kind AND v.exporter_id = p_id
        UNION ALL
        SELECT 9223372036854775807, p_extra_country::char(2), p_extra_on
         WHERE p_extra_country IS NOT NULL
    )
    SELECT (n2.noticed_on + p.block_length)::date, n2.country
      FROM n n2, exports.compliance_policy p
     WHERE n2.noticed_on <= p_on AND n2.noticed_on + p.block_length > p_on
       AND (SELECT count(*) FROM n n1
             WHERE n1.country = n2.country
               AND n1.noticed_on > n2.noticed_on - p.window_length
               AND (n1.noticed_on, n1.id) <= (n2.noticed_on, n2.id)) >= p.notices
     ORDER BY 1 DESC
     LIMIT 1;
END
$$;

-- The encoded documents list of a shipment's events: its issued documents.
CREATE FUNCTION exports.document_refs(p_shipment bigint) RETURNS bytea
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(string_agg(d.ref_pb, ''::bytea ORDER BY d.id), ''::bytea)
              FROM exports.documents d
             WHERE d.shipment_id = p_shipment AND d.status = 'issued');
END
$$;
CREATE INDEX documents_shipment ON exports.documents (shipment_id, status);

-- ---------------------------------------------------------------- mutations

-- Creates a draft shipment. p_lots: [[product_id, producer_id, quantity, unit, net_kg,
-- value_usd, value_som], ...] with numbers as strings. p_head and p_static are the move and
-- the goods-and-route parts of its events (see the top of this file).
CREATE FUNCTION exports.create_shipment(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_caller text, p_exporter_kind text, p_exporter_id bigint,
    p_buyer_name text, p_buyer_country text, p_buyer_address text, p_destination text,
    p_incoterm text, p_mode text, p_vehicle text, p_note text, p_border text,
    p_departure date, p_arrival date, p_lots jsonb, p_at_us bigint, p_event_id uuid,
    p_head bytea, p_static bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_name text;
    v_territory text;
    v_status text;
    v_modes text[];
    v_problem record;
    v_hs6 text;
    v_at timestamptz := exports.at_us(p_at_us);
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    IF p_exporter_kind = 'producer' THEN
        SELECT legal_name, territory_code, status INTO v_name, v_territory, v_status
          FROM registry.producers WHERE id = p_exporter_id FOR KEY SHARE;
    ELSE
        SELECT name, territory_code, 'active' INTO v_name, v_territory, v_status
          FROM registry.cooperatives WHERE id = p_exporter_id FOR KEY SHARE;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'exporter.id',
            format('no %s with id %s', p_exporter_kind, p_exporter_id);
        RETURN;
    END IF;
    IF v_status <> 'active' THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'exporter.id',
            format('producer %s is %s and cannot export', p_exporter_id, v_status);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_buyer_country) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'buyer.country',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_buyer_country);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_destination) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'destination',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_destination);
        RETURN;
    END IF;
    SELECT modes INTO v_modes FROM exports.border_points WHERE code = p_border;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'border_point',
            format('no crossing point %s; known: %s', p_border,
                   (SELECT string_agg(code, ', ' ORDER BY code) FROM exports.border_points));
        RETURN;
    END IF;
    IF NOT p_mode = ANY (v_modes) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'border_point',
            format('%s serves %s transport, not %s', p_border, array_to_string(v_modes, ', '),
                   p_mode);
        RETURN;
    END IF;

    -- The first problem of the lots, in order.
    WITH l AS (
        SELECT (n - 1)::int AS i, (e->>0)::bigint AS product_id, (e->>1)::bigint AS producer_id,
               e->>3 AS unit
          FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
    )
    SELECT l.i, x.ord, l.product_id, l.producer_id, l.unit, p.producer_id AS maker,
           p.unit AS product_unit, pr.status AS producer_status
      INTO v_problem
      FROM l
      LEFT JOIN registry.products p ON p.id = l.product_id
      LEFT JOIN registry.producers pr ON pr.id = l.producer_id
     CROSS JOIN LATERAL (
           SELECT f.ord FROM (VALUES
               (1, p.id IS NULL),
               (2, pr.id IS NULL),
               (3, p.producer_id <> l.producer_id),
               (4, pr.status <> 'active'),
               (5, l.unit <> p.unit),
               (6, p_exporter_kind = 'producer' AND l.producer_id <> p_exporter_id),
               (7, p_exporter_kind = 'cooperative' AND NOT EXISTS (
                       SELECT 1 FROM registry.cooperative_members m
                        WHERE m.cooperative_id = p_exporter_id AND m.producer_id = l.producer_id
                          AND m.joined_on <= current_date
                          AND (m.left_on IS NULL OR m.left_on > current_date)))
           ) f(ord, bad)
           WHERE f.bad ORDER BY f.ord LIMIT 1) x
     ORDER BY l.i
     LIMIT 1;
    IF FOUND THEN
        RETURN QUERY SELECT
            CASE WHEN v_problem.ord = 4 THEN 'precondition' ELSE 'invalid' END, NULL::bytea,
            format('lots[%s].%s', v_problem.i,
                   CASE v_problem.ord WHEN 1 THEN 'product_id' WHEN 5 THEN 'unit'
                                      ELSE 'producer_id' END),
            CASE v_problem.ord
                WHEN 1 THEN format('no product with id %s', v_problem.product_id)
                WHEN 2 THEN format('no producer with id %s', v_problem.producer_id)
                WHEN 3 THEN format('product %s is made by producer %s, not %s',
                                   v_problem.product_id, v_problem.maker, v_problem.producer_id)
                WHEN 4 THEN format('producer %s is %s and cannot export',
                                   v_problem.producer_id, v_problem.producer_status)
                WHEN 5 THEN format('product %s is counted in %s, not %s',
                                   v_problem.product_id, v_problem.product_unit, v_problem.unit)
                WHEN 6 THEN format('a producer exports its own goods: producer %s is not the '
                                   'exporter (producer %s); export through a cooperative',
                                   v_problem.producer_id, p_exporter_id)
                ELSE format('producer %s is not a member of cooperative %s today',
                            v_problem.producer_id, p_exporter_id) END;
        RETURN;
    END IF;

    INSERT INTO exports.shipments (
        id, exporter_kind, exporter_id, exporter_name, buyer_name, buyer_country, buyer_address,
        destination, incoterm, transport_mode, vehicle, consignment_note, border_point,
        planned_departure, planned_arrival, origin_territory, hs6, origins, required_docs,
        net_kg, value_usd, value_som, status, version, created_at, created_by, status_at,
        event_pb)
    SELECT p_id, p_exporter_kind, p_exporter_id, v_name, p_buyer_name, p_buyer_country,
           p_buyer_address, p_destination, p_incoterm, p_mode, p_vehicle, p_note, p_border,
           p_departure, p_arrival, v_territory, g.hs6, g.origins,
           exports.required_documents(p_destination, g.origins, p_mode), g.net_kg, g.value_usd,
           g.value_som, 'draft', 1, v_at, p_caller, v_at, p_static
      FROM (SELECT (array_agg(p.hs6 ORDER BY (x.e->>4)::numeric DESC, x.n))[1] AS hs6,
                   array_agg(DISTINCT h.origin ORDER BY h.origin) AS origins,
                   sum((x.e->>4)::numeric) AS net_kg, sum((x.e->>5)::numeric) AS value_usd,
                   sum((x.e->>6)::numeric) AS value_som
              FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
              JOIN registry.products p ON p.id = (x.e->>0)::bigint
              JOIN registry.hs_codes h ON h.hs6 = p.hs6) g
    RETURNING hs6 INTO v_hs6;
    INSERT INTO exports.lots (shipment_id, ord, product_id, producer_id, hs6, product_name,
                              quantity, unit, net_kg, value_usd, value_som, territory_code)
    SELECT p_id, x.n, p.id, pr.id, p.hs6,
           coalesce(nullif(p.name_en, ''), nullif(p.name_ru, ''), p.name_ky),
           (x.e->>2)::numeric, p.unit, (x.e->>4)::numeric, (x.e->>5)::numeric,
           (x.e->>6)::numeric, pr.territory_code
      FROM jsonb_array_elements(p_lots) WITH ORDINALITY AS x(e, n)
      JOIN registry.products p ON p.id = (x.e->>0)::bigint
      JOIN registry.producers pr ON pr.id = (x.e->>1)::bigint;
    INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                          caller, agency, reason, reference, request_id,
                                          event_id)
    VALUES (p_id, 1, NULL, 'draft', v_at, p_caller, '', '', '', p_request_id, p_event_id);
    PERFORM bus.emit(p_event_id, '/ovop/exports', 'ovop.exports.shipment.created',
                     'shipment/' || p_id, 'ovop.v1.ExportEvent', p_head || p_static, v_hs6,
                     v_territory, p_destination, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Why a move of shipment p_s from p_from (reached at p_prev_at, at version p_version) to p_to
-- at p_at may not happen: kind (an outcome of the mutation convention), field and message;
-- all NULL when it may. The one list of the lifecycle's checks, for single moves and batches
-- alike.
CREATE FUNCTION exports.move_problem(p_s exports.shipments, p_from text, p_prev_at timestamptz,
                                     p_version int, p_to text, p_at timestamptz,
                                     p_agency text, p_border text, p_expected int,
                                     OUT kind text, OUT field text, OUT message text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_t exports.transitions%ROWTYPE;
    v_missing text[];
    v_until date;
    v_country text;
    v_modes text[];
BEGIN
    IF p_expected <> 0 AND p_expected <> p_version THEN
        kind := 'stale';
        field := 'expected_version';
        message := format('shipment %s is at version %s, not %s: read it again', p_s.id,
                          p_version, p_expected);
        RETURN;
    END IF;
    SELECT * INTO v_t FROM exports.transitions WHERE from_status = p_from AND to_status = p_to;
    IF NOT FOUND THEN
        kind := 'precondition';
        field := 'to';
        message := format('shipment %s is %s and cannot become %s%s', p_s.id, p_from, p_to,
                          coalesce((SELECT format(' (it can become %s)',
                                                  string_agg(t.to_status, ', ' ORDER BY st.ord))
                                      FROM exports.transitions t
                                      JOIN exports.statuses st ON st.code = t.to_status
                                     WHERE t.from_status = p_from
                                    HAVING count(*) > 0),
                                   format(': %s is final', p_from)));
        RETURN;
    END IF;
    IF cardinality(v_t.agencies) > 0 AND NOT p_agency = ANY (v_t.agencies) THEN
        kind := 'invalid';
        field := 'agency';
        message := format('a move to %s is recorded by %s, got "%s"', p_to,
                          array_to_string(v_t.agencies, ' or '), p_agency);
        RETURN;
    END IF;
    IF p_at < p_prev_at THEN
        kind := 'invalid';
        field := 'at_us';
        message := format('%s is before the shipment became %s (%s)', p_at, p_from, p_prev_at);
        RETURN;
    END IF;
    IF v_t.needs_documents THEN
        v_missing := exports.missing_documents(p_s.id);
        IF cardinality(v_missing) > 0 THEN
            kind := 'precondition';
            field := 'to';
            message := format('shipment %s cannot become %s: missing documents: %s', p_s.id,
                              p_to, array_to_string(v_missing, ', '));
            RETURN;
        END IF;
    END IF;
    -- Most exporters never had a notice: look for a block only when there are some.
    IF v_t.phyto_check AND 'plant' = ANY (p_s.origins) AND EXISTS (
           SELECT 1 FROM exports.violation_notices v
            WHERE v.exporter_kind = p_s.exporter_kind AND v.exporter_id = p_s.exporter_id) THEN
        SELECT b.blocked_until, b.country INTO v_until, v_country
          FROM exports.phyto_block(p_s.exporter_kind, p_s.exporter_id, current_date) b;
        IF FOUND THEN
            kind := 'precondition';
            field := 'to';
            message := format('shipment %s carries plant products and %s %s is blocked from '
                              'new phytosanitary certificates until %s, after violation '
                              'notices from %s', p_s.id, p_s.exporter_kind, p_s.exporter_id,
                              v_until, v_country);
            RETURN;
        END IF;
    END IF;
    IF p_border <> '' THEN
        SELECT modes INTO v_modes FROM exports.border_points WHERE code = p_border;
        IF NOT FOUND OR NOT p_s.transport_mode = ANY (v_modes) THEN
            kind := 'invalid';
            field := 'border_point';
            message := format('%s is not a crossing point for %s transport', p_border,
                              p_s.transport_mode);
            RETURN;
        END IF;
    END IF;
END
$$;

-- Adds (p_sign 1, at departure) or takes away (-1, at return) a shipment in the statistics of
-- p_month, in this connection's stripe.
CREATE FUNCTION exports.count_export(p_shipment bigint, p_destination text, p_month date,
                                     p_sign int) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination, stripe,
                                            net_g, usd_cents, som_tyiyn, shipments)
    SELECT p_month, exports.region_of(l.territory_code), exports.district_of(l.territory_code),
           l.hs6, p_destination, (pg_backend_pid() % 8)::smallint,
           (p_sign * sum(l.net_kg) * 1000)::bigint, (p_sign * sum(l.value_usd) * 100)::bigint,
           (p_sign * sum(l.value_som) * 100)::bigint, p_sign
      FROM exports.lots l
     WHERE l.shipment_id = p_shipment
     GROUP BY 1, 2, 3, 4
     ORDER BY 1, 2, 3, 4
    ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
       SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
           som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
           shipments = t.shipments + excluded.shipments;
$$;

-- One move of the lifecycle (TransitionShipment): the shipment's new state, a history row,
-- the event and, for DEPARTED and RETURNED, the statistics, after exports.move_problem found
-- nothing against it. Simple statements on the locked row: the hot path of the service.
CREATE FUNCTION exports.record_move(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_caller text, p_id bigint, p_to text, p_at_us bigint, p_agency text, p_reason text,
    p_reference text, p_border text, p_expected int, p_event_id uuid, p_type text,
    p_head bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_s exports.shipments%ROWTYPE;
    v_kind text;
    v_field text;
    v_message text;
    v_at timestamptz := exports.at_us(p_at_us);
    v_via text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_s FROM exports.shipments WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'shipment_id',
            format('no shipment with id %s', p_id);
        RETURN;
    END IF;
    SELECT p.kind, p.field, p.message INTO v_kind, v_field, v_message
      FROM exports.move_problem(v_s, v_s.status, v_s.status_at, v_s.version, p_to, v_at,
                                p_agency, p_border, p_expected) p;
    IF v_kind IS NOT NULL THEN
        RETURN QUERY SELECT v_kind, NULL::bytea, v_field, v_message;
        RETURN;
    END IF;
    IF p_to = 'departed' THEN
        v_via := coalesce(nullif(p_border, ''), v_s.border_point);
    END IF;
    UPDATE exports.shipments
       SET status = p_to, version = version + 1, status_at = v_at,
           declared_at = CASE WHEN p_to = 'declared' THEN v_at ELSE declared_at END,
           documents_complete_at = CASE WHEN p_to = 'documents_complete' THEN v_at
                                        ELSE documents_complete_at END,
           released_at = CASE WHEN p_to = 'released' THEN v_at ELSE released_at END,
           departed_at = CASE WHEN p_to = 'departed' THEN v_at ELSE departed_at END,
           delivered_at = CASE WHEN p_to = 'delivered' THEN v_at ELSE delivered_at END,
           departed_via = coalesce(v_via, departed_via),
           stats_month = CASE WHEN p_to = 'departed' THEN exports.month_of(v_at)
                              WHEN p_to = 'returned' THEN NULL ELSE stats_month END
     WHERE id = p_id;
    INSERT INTO exports.shipment_history (shipment_id, version, from_status, to_status, at,
                                          caller, agency, reason, reference, border_point,
                                          request_id, event_id)
    VALUES (p_id, v_s.version + 1, v_s.status, p_to, v_at, p_caller, p_agency, p_reason,
            p_reference, v_via, p_request_id, p_event_id);
    PERFORM bus.emit(p_event_id, '/ovop/exports', p_type, 'shipment/' || p_id,
                     'ovop.v1.ExportEvent', p_head || v_s.event_pb || exports.document_refs(p_id),
                     v_s.hs6, v_s.origin_territory, v_s.destination, p_request_id);
    IF p_to = 'departed' THEN
        PERFORM exports.count_export(p_id, v_s.destination, exports.month_of(v_at), 1);
    ELSIF p_to = 'returned' THEN
        PERFORM exports.count_export(p_id, v_s.destination, v_s.stats_month, -1);
    END IF;
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Moves with the state each meets: the stored one for a shipment's first move in the list,
-- the previous move's for the next ones. Reads the shipments as the calling statement sees
-- them, one index lookup per move (a join would be planned for a thousand moves and scan).
CREATE FUNCTION exports.moves(p_ids bigint[], p_to text[], p_at_us bigint[], p_border text[],
                              p_expected int[])
RETURNS TABLE (idx int, id bigint, to_status text, at timestamptz, border text, expected int,
               found bool, s exports.shipments, from_status text, prev_at timestamptz,
               version_before int, departed_before timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT i.idx, i.id, i.to_status, i.at, i.border, i.expected, (i.s).id IS NOT NULL, i.s,
           coalesce(lag(i.to_status) OVER w, (i.s).status),
           coalesce(lag(i.at) OVER w, (i.s).status_at),
           (i.s).version + (row_number() OVER w)::int - 1,
           coalesce(max(i.at) FILTER (WHERE i.to_status = 'departed')
                        OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),
                    (i.s).departed_at)
      FROM (SELECT g AS idx, p_ids[g] AS id, p_to[g] AS to_status,
                   exports.at_us(p_at_us[g]) AS at, p_border[g] AS border,
                   p_expected[g] AS expected,
                   (SELECT s FROM exports.shipments s WHERE s.id = p_ids[g]) AS s
              FROM generate_subscripts(p_ids, 1) AS g
            OFFSET 0) i
    WINDOW w AS (PARTITION BY i.id ORDER BY i.idx);
$$;

-- Applies a batch of moves (RecordShipmentEvents), in order, all or nothing. Each move is
-- checked (exports.move_problem) against the state it meets (exports.moves); on any refusal
-- nothing is written and every bad move is reported in problems,
-- [["transitions[i].field", "message"], ...], the outcome and field/message being those of
-- the first. Otherwise, in one statement: the shipments' new state, a history row and an
-- event per move, and the statistics of DEPARTED and RETURNED. Shipments are locked in id
-- order and statistics rows in key order, so concurrent batches never deadlock on them.
CREATE FUNCTION exports.record_moves(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_caller text, p_ids bigint[], p_to text[], p_at_us bigint[], p_agency text[],
    p_reason text[], p_reference text[], p_border text[], p_expected int[],
    p_event_ids uuid[], p_types text[], p_heads bytea[])
RETURNS TABLE (outcome text, reply bytea, field text, message text, problems json)
LANGUAGE plpgsql SET jit = off SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_prev bytea;
    v_kinds text[];
    v_fields text[];
    v_messages text[];
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '', NULL::json;
        RETURN;
    END IF;
    PERFORM 1 FROM exports.shipments WHERE exports.shipments.id = ANY (p_ids)
     ORDER BY exports.shipments.id FOR UPDATE;

    SELECT array_agg(pr.kind ORDER BY m.idx),
           array_agg(format('transitions[%s].%s', m.idx - 1, pr.field) ORDER BY m.idx),
           array_agg(pr.message ORDER BY m.idx)
      INTO v_kinds, v_fields, v_messages
      FROM exports.moves(p_ids, p_to, p_at_us, p_border, p_expected) m
     CROSS JOIN LATERAL (
           SELECT 'not_found' AS kind, 'shipment_id' AS field,
                  format('no shipment with id %s', m.id) AS message
            WHERE NOT m.found
           UNION ALL
           SELECT q.kind, q.field, q.message
             FROM exports.move_problem(m.s, m.from_status, m.prev_at, m.version_before,
                                       m.to_status, m.at, p_agency[m.idx], m.border,
                                       m.expected) q
            WHERE m.found AND q.kind IS NOT NULL) pr;
    IF v_kinds IS NOT NULL THEN
        RETURN QUERY SELECT v_kinds[1], NULL::bytea, v_fields[1], v_messages[1],
            (SELECT json_agg(json_build_array(u.f, u.msg))
               FROM unnest(v_fields, v_messages) AS u(f, msg));
        RETURN;
    END IF;

    -- Every CTE sees the shipments as they were before this statement.
    WITH m AS MATERIALIZED (
        SELECT m.*, p_agency[m.idx] AS agency, p_reason[m.idx] AS reason,
               p_reference[m.idx] AS reference, p_event_ids[m.idx] AS event_id,
               p_types[m.idx] AS event_type, p_heads[m.idx] AS head,
               CASE WHEN m.to_status = 'departed'
                    THEN coalesce(nullif(m.border, ''), (m.s).border_point) END AS via
          FROM exports.moves(p_ids, p_to, p_at_us, p_border, p_expected) m
    ), last AS (
        SELECT DISTINCT ON (m.id) m.id, m.to_status, m.at, m.version_before + 1 AS version
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
           SET status = l.to_status, version = l.version, status_at = l.at,
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
        SELECT m.id, m.version_before + 1, m.from_status, m.to_status, m.at, p_caller,
               m.agency, m.reason, m.reference, m.via, p_request_id, m.event_id
          FROM m
    ), docs AS (
        SELECT k.id, exports.document_refs(k.id) AS refs FROM marks k
    ), ev AS (
        -- bus.emit's insert, set-based: a call per event would cost a batch ~10 ms.
        INSERT INTO bus.events (id, source, type, subject, data_schema, data, hs6, soate,
                                destination, request_id)
        SELECT m.event_id, '/ovop/exports', m.event_type, 'shipment/' || m.id,
               'ovop.v1.ExportEvent', m.head || (m.s).event_pb || d.refs, (m.s).hs6,
               (m.s).origin_territory, (m.s).destination, p_request_id
          FROM m JOIN docs d ON d.id = m.id ORDER BY m.idx
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
    )
    INSERT INTO exports.stats_monthly AS t (month, region, district, hs6, destination, stripe,
                                            net_g, usd_cents, som_tyiyn, shipments)
    SELECT c.month, c.region, c.district, c.hs6, c.destination,
           (pg_backend_pid() % 8)::smallint, sum(c.net_g), sum(c.usd_cents), sum(c.som_tyiyn),
           sum(c.n)
      FROM cells c
     GROUP BY 1, 2, 3, 4, 5
     ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (month, region, district, hs6, destination, stripe) DO UPDATE
       SET net_g = t.net_g + excluded.net_g, usd_cents = t.usd_cents + excluded.usd_cents,
           som_tyiyn = t.som_tyiyn + excluded.som_tyiyn,
           shipments = t.shipments + excluded.shipments;

    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '', NULL::json;
END
$$;

-- Why the exporter of p_shipment may not receive a phytosanitary certificate dated p_on, as
-- a message, or NULL when it may.
CREATE FUNCTION exports.phyto_refusal(p_kind text, p_id bigint, p_on date) RETURNS text
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT format('%s %s may not receive new phytosanitary certificates until %s, '
                          'after violation notices from %s', p_kind, p_id, b.blocked_until,
                          b.country)
              FROM exports.phyto_block(p_kind, p_id, p_on) b);
END
$$;

-- Attaches a document to a shipment that has not left yet. p_head is the move part of its
-- event (with the document), p_ref its entry in events' documents list.
CREATE FUNCTION exports.attach_document(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_shipment bigint, p_type text, p_number text, p_issuer text,
    p_issued_on date, p_valid_until date, p_status text, p_at_us bigint, p_event_id uuid,
    p_head bytea, p_ref bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
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
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_s FROM exports.shipments WHERE id = p_shipment FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'shipment_id',
            format('no shipment with id %s', p_shipment);
        RETURN;
    END IF;
    IF v_s.status NOT IN ('draft', 'declared', 'documents_complete', 'released') THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'shipment_id',
            format('shipment %s is %s: documents can no longer be attached', p_shipment,
                   v_s.status);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.document_types WHERE code = p_type) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'type',
            format('unknown document type %s', p_type);
        RETURN;
    END IF;
    SELECT id INTO v_other FROM exports.documents
     WHERE shipment_id = p_shipment AND doc_type = p_type AND number = p_number;
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'number',
            format('shipment %s already has %s %s (document %s)', p_shipment, p_type, p_number,
                   v_other);
        RETURN;
    END IF;
    IF p_type = 'phytosanitary' THEN
        v_refusal := coalesce(
            exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, current_date),
            exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, p_issued_on));
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'type', v_refusal;
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
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Document status: requested -> issued | rejected, issued -> revoked. p_issued_on: the date
-- of issue when p_status is issued. p_ref replaces the document's events entry.
CREATE FUNCTION exports.set_document_status(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_status text, p_reason text, p_issued_on date, p_at_us bigint,
    p_event_id uuid, p_event_type text, p_head bytea, p_ref bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_d exports.documents%ROWTYPE;
    v_s exports.shipments%ROWTYPE;
    v_refusal text;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    SELECT * INTO v_d FROM exports.documents WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::bytea, 'document_id',
            format('no document with id %s', p_id);
        RETURN;
    END IF;
    IF NOT (v_d.status, p_status) IN (('requested', 'issued'), ('requested', 'rejected'),
                                       ('issued', 'revoked')) THEN
        RETURN QUERY SELECT 'precondition', NULL::bytea, 'status',
            format('document %s is %s and cannot become %s', p_id, v_d.status, p_status);
        RETURN;
    END IF;
    IF p_issued_on IS NOT NULL AND v_d.valid_until IS NOT NULL
       AND p_issued_on > v_d.valid_until THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'issued_on',
            format('%s is after the document''s validity ends (%s)', p_issued_on,
                   v_d.valid_until);
        RETURN;
    END IF;
    SELECT * INTO v_s FROM exports.shipments WHERE id = v_d.shipment_id FOR UPDATE;
    IF p_status = 'issued' AND v_d.doc_type = 'phytosanitary' THEN
        v_refusal := exports.phyto_refusal(v_s.exporter_kind, v_s.exporter_id, p_issued_on);
        IF v_refusal IS NOT NULL THEN
            RETURN QUERY SELECT 'precondition', NULL::bytea, 'status', v_refusal;
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
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- Records a violation notice. p_expected_until is the block the daemon computed for its
-- reply (exports.phyto_block with this notice added); if the notices changed meanwhile the
-- statement fails with a serialization failure and the client retries. Notices of one
-- exporter are recorded one at a time.
CREATE FUNCTION exports.record_violation(
    p_service text, p_request_id text, p_method text, p_fp text, p_reply bytea,
    p_id bigint, p_caller text, p_kind text, p_exporter bigint, p_country text, p_on date,
    p_authority text, p_reference text, p_description text, p_shipment bigint,
    p_expected_until date, p_at_us bigint, p_event_id uuid, p_event bytea)
RETURNS TABLE (outcome text, reply bytea, field text, message text)
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    v_prev bytea;
    v_territory text;
    v_other bigint;
    v_until date;
BEGIN
    v_prev := bus.replay(p_service, p_request_id, p_fp);
    IF v_prev IS NOT NULL THEN
        RETURN QUERY SELECT 'replay', v_prev, '', '';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('exports.notices/' || p_kind || '/'
                                                   || p_exporter, 0));
    IF p_kind = 'producer' THEN
        SELECT territory_code INTO v_territory FROM registry.producers WHERE id = p_exporter;
    ELSE
        SELECT territory_code INTO v_territory FROM registry.cooperatives WHERE id = p_exporter;
    END IF;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'exporter.id',
            format('no %s with id %s', p_kind, p_exporter);
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM exports.countries WHERE code = p_country) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'country',
            format('unknown country code "%s": use ISO 3166-1 alpha-2, e.g. CN, KZ, JP',
                   p_country);
        RETURN;
    END IF;
    IF p_shipment IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM exports.shipments
            WHERE id = p_shipment AND exporter_kind = p_kind AND exporter_id = p_exporter) THEN
        RETURN QUERY SELECT 'invalid', NULL::bytea, 'shipment_id',
            format('no shipment %s of %s %s', p_shipment, p_kind, p_exporter);
        RETURN;
    END IF;
    SELECT id INTO v_other FROM exports.violation_notices
     WHERE exporter_kind = p_kind AND exporter_id = p_exporter AND country = p_country
       AND reference = p_reference AND p_reference <> '';
    IF FOUND THEN
        RETURN QUERY SELECT 'exists', NULL::bytea, 'reference',
            format('notice %s from %s is already recorded (id %s)', p_reference, p_country,
                   v_other);
        RETURN;
    END IF;
    INSERT INTO exports.violation_notices (id, exporter_kind, exporter_id, country, noticed_on,
                                           authority, reference, description, shipment_id,
                                           created_at, created_by)
    VALUES (p_id, p_kind, p_exporter, p_country, p_on, p_authority, p_reference, p_description,
            p_shipment, exports.at_us(p_at_us), p_caller);
    SELECT b.blocked_until INTO v_until FROM exports.phyto_block(p_kind, p_exporter, current_date) b;
    IF v_until IS DISTINCT FROM p_expected_until THEN
        RAISE EXCEPTION 'the notices of % % changed while recording one', p_kind, p_exporter
            USING ERRCODE = 'serialization_failure';
    END IF;
    PERFORM bus.emit(p_event_id, '/ovop/exports', 'ovop.exports.violation.recorded',
                     'violation/' || p_id, 'ovop.v1.ViolationNotice', p_event, NULL,
                     v_territory, p_country, p_request_id);
    PERFORM bus.remember(p_service, p_request_id, p_method, p_fp, p_reply);
    RETURN QUERY SELECT 'ok', p_reply, '', '';
END
$$;

-- ---------------------------------------------------------------- privileges

-- The exports daemon reads the registers it checks shipments against (one database).
GRANT USAGE ON SCHEMA registry TO ovop_exports;
GRANT SELECT ON registry.producers, registry.cooperatives, registry.cooperative_members,
                registry.products, registry.hs_codes, registry.territories TO ovop_exports;
GRANT USAGE ON SEQUENCE exports.ids TO ovop_exports;
GRANT ALL ON ALL TABLES IN SCHEMA exports TO ovop_exports;
