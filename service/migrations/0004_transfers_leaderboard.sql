-- Leaderboards rank members within their residency group by lifetime points: the balance row
-- carries the group so that one index answers top-N, a member's rank and their neighbours.
ALTER TABLE balances ADD COLUMN IF NOT EXISTS residency_group TEXT;
UPDATE balances SET residency_group = m.residency_group FROM members m
    WHERE m.id = balances.member_id AND balances.residency_group IS NULL;
CREATE INDEX IF NOT EXISTS balances_leaderboard_idx ON balances (residency_group, lifetime DESC, member_id);
