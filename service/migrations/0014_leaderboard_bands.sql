-- Rank bands (docs/leaderboard.md, ADR 0023): every B-th member of a residency group in
-- leaderboard order (lifetime DESC, member_id ASC) is a boundary, stored with the number of
-- members above it at `built_at`. A member's rank is then the nearest boundary at or above
-- them plus a live count of the ~B members between, instead of counting everyone above.
--
-- REGIONAL BY ROW, homed with the boundary member: the row names a member (an id and their
-- lifetime points, no profile), so it stays in the member's residency group like the balance
-- row it was read from. Rebuilt as a whole per group by the bands job; never a source of truth.
CREATE TABLE IF NOT EXISTS leaderboard_bands (
    residency_group TEXT NOT NULL,
    -- 0-based: the boundary is the (members_above + 1)-th member of its group.
    members_above   BIGINT NOT NULL CONSTRAINT leaderboard_bands_above_check CHECK (members_above >= 0),
    lifetime        BIGINT NOT NULL,
    member_id       UUID NOT NULL,
    home_region     TEXT NOT NULL,
    built_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (residency_group, members_above)
);
-- The nearest boundary at or above a position is a backward scan of this index, the same
-- order as balances_leaderboard_idx.
CREATE INDEX IF NOT EXISTS leaderboard_bands_order_idx
    ON leaderboard_bands (residency_group, lifetime DESC, member_id);
