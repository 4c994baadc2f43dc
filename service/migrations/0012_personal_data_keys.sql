-- Personal data sealed per member, erasure by crypto-shredding, and the signed chain-head
-- digests (ADR 0021, docs/privacy.md, docs/retention.md). Portable SQL (ADR 0002).

-- The member's profile (external id and country) is stored sealed with the member's data
-- key; the external id is found through its blind index (HMAC under a configured key). The
-- plaintext columns stay, nullable, for rows written before this release until
-- `loyalty-service seal` has sealed them; new rows leave them NULL.
ALTER TABLE members ALTER COLUMN external_id DROP NOT NULL;
ALTER TABLE members ALTER COLUMN country DROP NOT NULL;
ALTER TABLE members ADD COLUMN IF NOT EXISTS external_id_index BYTEA;
ALTER TABLE members ADD COLUMN IF NOT EXISTS profile_sealed BYTEA;
ALTER TABLE members ADD COLUMN IF NOT EXISTS erased_at TIMESTAMPTZ;
CREATE UNIQUE INDEX IF NOT EXISTS members_external_id_index_key ON members (external_id_index);

-- Erased members leave the leaderboard: its queries skip rows with this set.
ALTER TABLE balances ADD COLUMN IF NOT EXISTS erased_at TIMESTAMPTZ;

-- One data key per member, wrapped by a key-encryption key version the database does not
-- hold. Homed with the member (REGIONAL BY ROW). Erasure deletes the row: from then on the
-- member's sealed fields, here and in every backup, cannot be opened.
CREATE TABLE IF NOT EXISTS member_keys (
    member_id   UUID PRIMARY KEY,
    home_region TEXT NOT NULL,
    kek_id      TEXT NOT NULL,
    wrapped_key BYTEA NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);

-- Signed digests over the chain heads of the members a region serves. PII-free: ids, a
-- count, a root hash and a signature.
CREATE TABLE IF NOT EXISTS chain_digests (
    id         UUID PRIMARY KEY,
    region     TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    members    BIGINT NOT NULL,
    root       BYTEA NOT NULL,
    key_id     TEXT NOT NULL,
    signature  BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS chain_digests_region_created_idx ON chain_digests (region, created_at);

-- The heads a digest signed, one row per member (homed with the member).
CREATE TABLE IF NOT EXISTS chain_digest_heads (
    digest_id   UUID NOT NULL,
    member_id   UUID NOT NULL,
    home_region TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    entry_hash  BYTEA NOT NULL,
    CONSTRAINT chain_digest_heads_pkey PRIMARY KEY (digest_id, member_id)
);
