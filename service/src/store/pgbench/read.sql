-- Kept in step with the service by e2e/loadgen/tests/smoke.rs: every statement here not
-- marked "bench helper" must appear verbatim in service/src/store/*.rs, with the service's
-- $N parameters written as pgbench :variables. Variables given with -D by the driver:
-- members, kmin, lotj, region, source, soon, now, expires, epoch, nil, hash, details, resp,
-- batch and the kind/reason names. pgbench variables hold numbers or strings from a
-- query, never a uuid computed locally, so one "bench helper" query per transaction computes
-- the member id (ids are deterministic: see dataset.rs) and fresh uuids; that extra round trip
-- is the only statement the service does not send. pgbench cannot bind NULL, so the service's
-- NULL parameters (hold_id, source, vests_at) are sent as values of the same type.
-- The balance read (Db::balance): one statement, for a random member every transaction as
-- the service's generator picks them. The member id is computed in the statement, where the
-- service binds it (the drift test reads the expression as the service's parameter), so there
-- is no helper round trip and no reuse of one member's hot pages.
\set k random(:kmin, :members)
SELECT m.residency_group, m.tier, b.available, b.pending, b.held, b.lifetime, b.qualifying, (SELECT COALESCE(SUM(l.remaining), 0)::BIGINT FROM lots l WHERE l.member_id = m.id AND l.remaining > 0 AND l.expires_at < :soon), (SELECT state FROM regions WHERE name = :region), (SELECT residency_group FROM regions WHERE name = :region), m.home_region FROM members m JOIN balances b ON b.member_id = m.id WHERE m.id = ('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid;
