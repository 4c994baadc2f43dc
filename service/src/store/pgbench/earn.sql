-- Kept in step with the service by e2e/loadgen/tests/smoke.rs: every statement here not
-- marked "bench helper" must appear verbatim in service/src/store/*.rs, with the service's
-- $N parameters written as pgbench :variables. Variables given with -D by the driver:
-- members, kmin, lotj, region, source, soon, now, expires, epoch, nil, hash, details, resp,
-- batch and the kind/reason names. pgbench variables hold numbers or strings from a
-- query, never a uuid computed locally, so one "bench helper" query per transaction computes
-- the member id (ids are deterministic: see dataset.rs) and fresh uuids; that extra round trip
-- is the only statement the service does not send. pgbench cannot bind NULL, so the service's
-- NULL parameters (hold_id, source, vests_at) are sent as values of the same type.
-- An earn (Db::earn with no campaign applying): idempotency lookup, member with the fence, booking
-- lookup, ledger entry, lot, earn record, balance, idempotency record. Pipelined like the
-- service (ADR 0009), except that pgbench must read the member's row (\gset) in a round trip
-- of its own: three round trips to the service's two.
\set k random(:kmin, :members)
-- The epoch of the region's fence row in the benchmark dataset, recorded on every entry.
\set fence_epoch 1
\set ref random(1, 9000000000000000000)
\set pts random(100, 9999)
SELECT /* bench helper */ ('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid AS mid, gen_random_uuid() AS eid, gen_random_uuid() AS lid \gset
\startpipeline
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT request_hash, response FROM idempotency_keys WHERE key = :ref;
SELECT member_id, response FROM earns WHERE source = :source AND booking_ref = :ref;
\endpipeline
SELECT m.home_region, m.residency_group, m.tier, b.available, b.pending, b.held, b.lifetime, b.qualifying, b.last_seq, b.last_hash, r.state AS region_state, r.residency_group AS region_group, r.epoch AS region_epoch FROM members m JOIN balances b ON b.member_id = m.id LEFT JOIN regions r ON r.name = :region WHERE m.id = :mid AND m.erased_at IS NULL FOR UPDATE OF b \gset
\set seq :last_seq + 1
\set avail :available + :pts
\set hld :held
\set life :lifetime + :pts
\set qual :qualifying + :pts
\startpipeline
INSERT INTO ledger_entries (member_id, seq, id, home_region, kind, available_delta, pending_delta, held_delta, lifetime_delta, qualifying_delta, reason, source, reference, hold_id, details, written_in, created_at, entry_hash, written_epoch) VALUES (:mid, :seq, :eid, :home_region, :k_earn, :pts, :zero, :zero, :pts, :pts, :r_booking, :source, :ref, :nil, :details, :region, :now, :hash, :fence_epoch);
INSERT INTO lots (id, member_id, home_region, earn_seq, points, remaining, expires_at, vests_at, qualifying, qualifying_until, created_at) VALUES (:lid, :mid, :home_region, :seq, :pts, :pts, :expires, :expires, :pts, :expires, :now);
INSERT INTO earns (source, booking_ref, member_id, home_region, entry_seq, lot_id, points, response, created_at) VALUES (:source, :ref, :mid, :home_region, :seq, :lid, :pts, :resp, :now);
UPDATE balances SET available = :avail, pending = :pending, held = :hld, lifetime = :life, qualifying = :qual, last_seq = :seq, last_hash = :hash, updated_at = :now WHERE member_id = :mid;
INSERT INTO idempotency_keys (key, home_region, request_hash, response, created_at) VALUES (:ref, :home_region, :hash, :resp, :now);
COMMIT;
\endpipeline
