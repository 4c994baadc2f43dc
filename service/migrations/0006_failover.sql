-- Region failover: what the chaos checker and the audit need to prove that a fenced region
-- committed nothing after its fence (docs/failover.md, ADR 0010).
--
-- `written_epoch` is the epoch of the writing region's `regions` row that the entry's own
-- SERIALIZABLE transaction read (NULL for entries written before this migration). A write is
-- ordered before a fence exactly when it read the epoch the fence replaced, so an entry whose
-- (written_in, written_epoch) names an epoch at which that region was not active was
-- committed by a fenced region.
ALTER TABLE ledger_entries ADD COLUMN IF NOT EXISTS written_epoch BIGINT;

-- One row per epoch of every region, inserted by the operator in the same transaction that
-- sets the region's row to that epoch (creation, failover, fail-back, manual fence/unfence,
-- deletion). PII-free configuration history: GLOBAL on CockroachDB.
CREATE TABLE IF NOT EXISTS region_transitions (
    region     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    state      TEXT NOT NULL CONSTRAINT region_transitions_state_check CHECK (state IN ('active', 'fenced')),
    served_by  TEXT NOT NULL,
    -- Why: Created, FailedOver, FailedBack, ManualFence, ManualUnfence, Switchover, Deleted, Revived.
    reason     TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT region_transitions_pkey PRIMARY KEY (region, epoch)
);

-- Regions that exist before this migration get the transition row of their current epoch.
INSERT INTO region_transitions (region, epoch, state, served_by, reason)
    SELECT name, epoch, state, served_by, 'Backfilled' FROM regions
    ON CONFLICT (region, epoch) DO NOTHING;
