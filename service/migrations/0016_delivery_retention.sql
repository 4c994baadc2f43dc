-- Pruning after `delivery.retention_h` (docs/events.md, ADR 0020). The sweep deletes delivered
-- deliveries by the time they were delivered, then the outbox events no delivery row names any
-- more. Without these indexes both reads would scan the whole table on every sweep: the only
-- index on delivery time was the due index (by next attempt), and nothing led with the event id.
-- Partial, so pending and dead rows (the dispatcher's hot rows) stay out of the first;
-- CockroachDB supports partial indexes and partitions both by row like their table.
CREATE INDEX IF NOT EXISTS deliveries_delivered_idx
    ON deliveries (home_region, delivered_at) WHERE state = 'delivered';
CREATE INDEX IF NOT EXISTS deliveries_event_idx ON deliveries (event_id);
