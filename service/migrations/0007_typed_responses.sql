-- Idempotency records hold a unit's typed outcome; the HTTP status is the route's to choose,
-- so the record no longer stores one. Nullable rather than dropped, so that replicas of the
-- previous release still insert it during a rolling upgrade; a later release drops it.
ALTER TABLE idempotency_keys ALTER COLUMN status DROP NOT NULL;
