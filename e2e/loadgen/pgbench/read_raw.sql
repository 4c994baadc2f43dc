-- The raw limit of a balance read: a prepared primary-key read of one balances row, nothing
-- else (no member, region or lot lookups). Not a statement the service sends, so the drift
-- test does not hold it to the service's source; the report shows it beside the
-- same-statement pgbench figure to say how heavy the service's read statement is. The member
-- id is computed in the statement (ids are deterministic: see dataset.rs), so there is no
-- helper round trip.
\set k random(:kmin, :members)
SELECT available FROM balances WHERE member_id = ('0b000000-0000-4000-8000-' || lpad(to_hex(:k::bigint), 12, '0'))::uuid;
