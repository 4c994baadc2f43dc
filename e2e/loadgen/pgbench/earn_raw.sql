-- The raw limit of an earn: the least a ledger earn must do — append a ledger row (ON
-- CONFLICT DO NOTHING) and move the balance, in one SERIALIZABLE transaction sent in one
-- pipelined round trip. No idempotency record, fence read, lot, earn record or hash chain:
-- what the service does on top of this is what the ratio against it prices. Not held to the
-- service's source by the drift test. The member id is computed in the statements (ids are
-- deterministic: see dataset.rs).
\set k random(:kmin, :members)
\set pts random(100, 9999)
\startpipeline
BEGIN ISOLATION LEVEL SERIALIZABLE;
INSERT INTO ledger_entries (member_id, seq, home_region, kind, available_delta, pending_delta, held_delta, lifetime_delta, qualifying_delta, reason, details, written_in, created_at, entry_hash) SELECT member_id, last_seq + 1, :region, :k_earn, :pts, 0, 0, :pts, :pts, :r_booking, '{}', :region, :now, :hash FROM balances WHERE member_id = ('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid ON CONFLICT DO NOTHING;
UPDATE balances SET available = available + :pts, lifetime = lifetime + :pts, qualifying = qualifying + :pts, last_seq = last_seq + 1 WHERE member_id = ('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid;
COMMIT;
\endpipeline
