-- status: what ovopctl status reads, for operators and monitoring.
--
-- * The role ops.monitor in the catalogue: it may call ovop.broker GetStatus (each broker's
--   services, workers and queues), as iam.admin may.
-- * ovop_monitor, a NOLOGIN group role: grant it to the login your monitoring uses
--   (GRANT ovop_monitor TO nagios;) and that login may run ovopctl status --database-url
--   and nothing else here. It holds no table privileges: bus.status_summary() below reads
--   with its owner's rights and answers one JSON document of counts and cursors, no rows of
--   business data.

INSERT INTO iam.roles (name, description) VALUES
    ('ops.monitor', 'reads the status of the bus: each broker''s services, workers and queues (ovop.broker, ovopctl status)');

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ovop_monitor') THEN
        CREATE ROLE ovop_monitor NOLOGIN;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO ovop_monitor', current_database());
END
$$;
COMMENT ON ROLE ovop_monitor IS
    'may run bus.status_summary() (ovopctl status); grant it to the monitoring login';

GRANT USAGE ON SCHEMA bus TO ovop_monitor;

-- The head of the event log, the consumers' cursors and lag, brand certificates expiring
-- within p_cert_days, and this server's replication state, as one JSON document:
--   events: {max_seq, unsequenced, newest_at, newest_age_s, oldest_unsequenced_age_s}
--   consumers: {total, lagging, max_lag, worst: [{name, kind, cursor, lag, updated_at}...]}
--     (matchd's index:<instance> cursors and shipments; every active notify subscription;
--      lagging: more than p_max_lag events behind; worst: the 10 furthest behind)
--   certificates: {expiring, soonest: [{number, producer_id, expires_on, days}...5]}
--   database: {in_recovery, server_version, replication: [...] or null when not permitted}
CREATE FUNCTION bus.status_summary(p_max_lag bigint DEFAULT 1000, p_cert_days int DEFAULT 30)
RETURNS json LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_head bigint;
    v_events json;
    v_consumers json;
    v_certs json;
    v_repl json;
BEGIN
    IF p_max_lag IS NULL OR p_max_lag < 0 OR p_cert_days IS NULL OR p_cert_days < 0
       OR p_cert_days > 3650 THEN
        RAISE EXCEPTION 'status_summary: p_max_lag must be >= 0, p_cert_days 0..3650'
            USING ERRCODE = '22023';
    END IF;
    SELECT last_seq INTO v_head FROM bus.sequencer WHERE id = 1;
    SELECT json_build_object(
               'max_seq', v_head,
               'unsequenced', (SELECT count(*) FROM bus.events WHERE seq IS NULL),
               'newest_at', e.time,
               'newest_age_s', round(extract(epoch FROM now() - e.time)::numeric, 3),
               'oldest_unsequenced_age_s',
               (SELECT round(extract(epoch FROM now() - min(u.time))::numeric, 3)
                  FROM bus.events u WHERE u.seq IS NULL))
      INTO v_events
      FROM (SELECT NULL) one LEFT JOIN bus.events e ON e.seq = v_head;

    WITH c AS (
        SELECT 'matching:' || name AS name, 'matching' AS kind, seq AS cursor, updated_at
          FROM matching.cursors
        UNION ALL
        SELECT 'notify:' || id::text, 'notify.' || delivery, cursor, updated_at
          FROM notify.subscriptions WHERE status = 'active'
    ), l AS (
        SELECT c.*, greatest(v_head - c.cursor, 0) AS lag FROM c
    )
    SELECT json_build_object(
               'total', (SELECT count(*) FROM l),
               'lagging', (SELECT count(*) FROM l WHERE lag > p_max_lag),
               'max_lag', (SELECT coalesce(max(lag), 0) FROM l),
               'worst', coalesce((SELECT json_agg(w ORDER BY w.lag DESC, w.name)
                                    FROM (SELECT name, kind, cursor, lag, updated_at FROM l
                                           ORDER BY lag DESC, name LIMIT 10) w), '[]'::json))
      INTO v_consumers;

    SELECT json_build_object(
               'expiring', (SELECT count(*) FROM registry.certificates
                             WHERE status = 'active' AND expires_on >= current_date
                               AND expires_on <= current_date + p_cert_days),
               'soonest', coalesce((SELECT json_agg(s ORDER BY s.expires_on, s.number)
                                      FROM (SELECT number, producer_id, expires_on,
                                                   expires_on - current_date AS days
                                              FROM registry.certificates
                                             WHERE status = 'active'
                                               AND expires_on >= current_date
                                               AND expires_on <= current_date + p_cert_days
                                             ORDER BY expires_on, number LIMIT 5) s),
                                   '[]'::json))
      INTO v_certs;

    -- The owner sees the standbys' addresses and lag only with pg_read_all_stats (or as a
    -- superuser): otherwise null, "not permitted", rather than rows of NULLs.
    IF pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') THEN
        SELECT coalesce(json_agg(json_build_object(
                   'application_name', application_name,
                   'client_addr', client_addr::text,
                   'state', state,
                   'sync_state', sync_state,
                   'replay_lag_s', round(extract(epoch FROM replay_lag)::numeric, 3))
                   ORDER BY application_name), '[]'::json)
          INTO v_repl FROM pg_stat_replication;
    END IF;

    RETURN json_build_object(
        'events', v_events,
        'consumers', v_consumers,
        'certificates', v_certs,
        'database', json_build_object('in_recovery', pg_is_in_recovery(),
                                      'server_version', current_setting('server_version'),
                                      'replication', v_repl));
END
$$;

REVOKE EXECUTE ON FUNCTION bus.status_summary(bigint, int) FROM PUBLIC, ovop_registry,
    ovop_exports, ovop_broker, ovop_matching, ovop_notify;
GRANT EXECUTE ON FUNCTION bus.status_summary(bigint, int) TO ovop_monitor;
