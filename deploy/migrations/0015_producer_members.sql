-- 0015 producer_members: a producer's members are stored as JSON objects named like the
-- protobuf Member's fields ({"name", "role", "tax_id"}) instead of positional arrays
-- ([name, role, tax id]), so registryd reads them by name like every other column, and the
-- list statements, planned on every call for their prefix filters, no longer plan a
-- conversion subquery. registry.register_producer and update_producer store what they are
-- given; registryd now gives objects.
UPDATE registry.producers p
   SET members = (SELECT jsonb_agg(jsonb_build_object('name', coalesce(e->>0, ''),
                                                      'role', coalesce(e->>1, ''),
                                                      'tax_id', coalesce(e->>2, ''))
                                   ORDER BY n)
                    FROM jsonb_array_elements(p.members) WITH ORDINALITY a(e, n))
 WHERE jsonb_typeof(p.members) = 'array' AND jsonb_array_length(p.members) > 0
   AND jsonb_typeof(p.members -> 0) = 'array';
