-- Rows the operator writes from custom resources (Campaign, Partner, LoyaltyRegion placement).
-- The service owns these tables; the operator only writes rows. All are PII-free
-- configuration (GLOBAL on CockroachDB).

-- Versions of configuration sets. The operator bumps a set's version in the same transaction
-- as it changes the set; the service polls the version and reloads the set when it moves
-- (no LISTEN/NOTIFY).
CREATE TABLE IF NOT EXISTS config_versions (
    name       TEXT PRIMARY KEY,
    version    BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per Campaign resource: its validated spec, exactly as the API declares it.
CREATE TABLE IF NOT EXISTS campaigns (
    namespace   TEXT NOT NULL,
    name        TEXT NOT NULL,
    -- The Campaign resource's spec (loyalty_crds::campaign::CampaignSpec) as JSON.
    spec        JSONB NOT NULL,
    -- metadata.generation of the resource the row was written from.
    generation  BIGINT NOT NULL,
    -- False once the resource is deleted or invalid: the service ignores inactive rows.
    active      BOOLEAN NOT NULL,
    -- The config_versions('campaigns') value that last changed this row.
    version     BIGINT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, name)
);

-- One row per Partner resource.
CREATE TABLE IF NOT EXISTS partners (
    code                 TEXT PRIMARY KEY,
    namespace            TEXT NOT NULL,
    name                 TEXT NOT NULL,
    display_name         TEXT NOT NULL,
    endpoint             TEXT NOT NULL,
    -- sha256 of the resolved credential: the value itself stays in the Kubernetes Secret
    -- that the service mounts; the fingerprint tells the service which version to expect.
    credentials_sha256   TEXT NOT NULL,
    retry_policy         JSONB NOT NULL,
    bonus_rules          JSONB NOT NULL,
    enabled              BOOLEAN NOT NULL,
    generation           BIGINT NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CONSTRAINT partners_namespace_name_key UNIQUE (namespace, name)
);

-- Database placement per region, as the placement backend desired and applied it. On
-- PostgreSQL this is the only effect of placement; on CockroachDB it records what the
-- multi-region DDL established (verified by reading SHOW REGIONS back).
CREATE TABLE IF NOT EXISTS region_placements (
    region      TEXT PRIMARY KEY,
    desired     JSONB NOT NULL,
    applied     JSONB,
    backend     TEXT NOT NULL,
    applied_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL
);
