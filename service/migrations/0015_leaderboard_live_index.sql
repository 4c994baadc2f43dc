-- The leaderboard's order without erased members (docs/leaderboard.md). Every leaderboard
-- query (top N, rank count, neighbours, the rank bands' build and live count) filters
-- `erased_at IS NULL`; with that column outside the index, each entry a count passed cost a
-- heap fetch (935 random table reads for one banded rank at 10^7 members). As a partial
-- index the predicate is the index's own, so the counts can be answered from the index
-- alone, and an erased member's entry leaves it. CockroachDB supports partial indexes and
-- partitions this one by row like its table.
CREATE INDEX IF NOT EXISTS balances_leaderboard_live_idx
    ON balances (residency_group, lifetime DESC, member_id) WHERE erased_at IS NULL;
DROP INDEX IF EXISTS balances_leaderboard_idx;
