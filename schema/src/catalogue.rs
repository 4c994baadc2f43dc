//! Every table of the schema and where its rows may live.

/// Where a table's rows live on a multi-region CockroachDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Locality {
    /// Member data: `REGIONAL BY ROW`, each row homed by its `home_region` column, so a
    /// member's rows (and their replicas) stay in the member's residency group.
    Homed,
    /// PII-free configuration read everywhere and written rarely: `GLOBAL` (local reads in
    /// every region, slower writes).
    Global,
    /// PII-free rows written on the hot path by every region (campaign budgets): `REGIONAL BY
    /// TABLE IN PRIMARY REGION`, because a `GLOBAL` write would slow every earn that draws on
    /// a budget.
    PrimaryRegion,
}

/// One table of the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    pub locality: Locality,
    /// What the table holds, for people reading the catalogue.
    pub holds: &'static str,
}

const fn table(name: &'static str, locality: Locality, holds: &'static str) -> Table {
    Table {
        name,
        locality,
        holds,
    }
}

/// The column every [`Locality::Homed`] table carries: the member's home region, assigned at
/// enrolment from the member's country (never from the gateway that served the request).
pub const HOME_REGION_COLUMN: &str = "home_region";

/// Every table the migrations create, the migrations' own bookkeeping included.
pub const TABLES: &[Table] = &[
    // Member data.
    table(
        "members",
        Locality::Homed,
        "enrolled members: sealed profile (external id, country), its blind index, tier, erasure",
    ),
    table(
        "member_keys",
        Locality::Homed,
        "each member's data key, wrapped by a key-encryption key (deleted on erasure)",
    ),
    table(
        "chain_digest_heads",
        Locality::Homed,
        "the chain heads a signed digest covers, one per member",
    ),
    table("balances", Locality::Homed, "one balance row per member"),
    table(
        "ledger_entries",
        Locality::Homed,
        "the immutable, hash-chained ledger",
    ),
    table("lots", Locality::Homed, "earned points with their expiry"),
    table("holds", Locality::Homed, "two-phase redemption holds"),
    table(
        "fraud_reviews",
        Locality::Homed,
        "flagged redemptions, holds and transfers awaiting review",
    ),
    table(
        "earns",
        Locality::Homed,
        "one row per earned (source, booking reference)",
    ),
    table(
        "idempotency_keys",
        Locality::Homed,
        "stored responses of mutating requests",
    ),
    table("tier_history", Locality::Homed, "a member's tier changes"),
    table(
        "outbox",
        Locality::Homed,
        "CloudEvents of ledger movements, written in the movement's transaction",
    ),
    table(
        "deliveries",
        Locality::Homed,
        "each outbox event's delivery to each webhook subscription: state, attempts, lease",
    ),
    table(
        "delivery_cursors",
        Locality::Homed,
        "how far each subscription's fan-out has read a home region's outbox",
    ),
    table(
        "lot_expiry_notices",
        Locality::Homed,
        "which lots were announced as expiring, per threshold",
    ),
    table(
        "campaign_member_usage",
        Locality::Homed,
        "points a member drew from a capped campaign per window",
    ),
    table(
        "activity_earns",
        Locality::Homed,
        "each reported referral, review or visit and what it earned",
    ),
    table("referrals", Locality::Homed, "who referred a member"),
    table(
        "member_identity_hints",
        Locality::Homed,
        "hashed identity hints given at enrolment",
    ),
    table(
        "activity_days",
        Locality::Homed,
        "the local days a member visited",
    ),
    table(
        "leaderboard_bands",
        Locality::Homed,
        "every B-th member of a residency group's ranking with the count above it (derived, rebuilt by a job)",
    ),
    // PII-free configuration.
    table(
        "chain_digests",
        Locality::Global,
        "signed digests over the members' chain heads: ids, counts, root hashes, signatures",
    ),
    table(
        "regions",
        Locality::Global,
        "each region's state, epoch, endpoint and serving region (the fence)",
    ),
    table(
        "region_transitions",
        Locality::Global,
        "every epoch of every region: state, serving region, why",
    ),
    table(
        "country_homes",
        Locality::Global,
        "which region new members of a country are homed in",
    ),
    table(
        "currencies",
        Locality::Global,
        "ISO-4217 exponents and EUR rates",
    ),
    table(
        "earn_rates",
        Locality::Global,
        "base points per EUR per product",
    ),
    table("tiers", Locality::Global, "the tier ladder"),
    table(
        "redemption_rules",
        Locality::Global,
        "how points may pay for each product type",
    ),
    table(
        "point_values",
        Locality::Global,
        "what a point is worth per tier",
    ),
    table(
        "fraud_rules",
        Locality::Global,
        "the fraud rules operations are screened against",
    ),
    table(
        "activity_rules",
        Locality::Global,
        "how referrals, reviews and streaks earn",
    ),
    table("campaigns", Locality::Global, "published Campaign specs"),
    table(
        "config_versions",
        Locality::Global,
        "a version per configuration set, polled by the service",
    ),
    table("partners", Locality::Global, "published Partner specs"),
    table(
        "webhook_subscriptions",
        Locality::Global,
        "published Partner webhook subscriptions (secrets only as fingerprints)",
    ),
    table(
        "region_placements",
        Locality::Global,
        "desired and applied database placement per region",
    ),
    table("schema_migrations", Locality::Global, "applied migrations"),
    // PII-free, written on the hot path.
    table(
        "campaign_budgets",
        Locality::PrimaryRegion,
        "points spent from each budgeted campaign",
    ),
];

/// The names of the tables with `locality`, in catalogue order.
pub fn names(locality: Locality) -> impl Iterator<Item = &'static str> {
    TABLES
        .iter()
        .filter(move |t| t.locality == locality)
        .map(|t| t.name)
}

/// The catalogue entry of `name`, if the schema has such a table.
pub fn find(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// Columns that mark a row as a member's: a table holding one must be [`Locality::Homed`].
pub const MEMBER_COLUMNS: &[&str] = &["member_id", HOME_REGION_COLUMN, "external_id"];

/// What differs between the catalogue and a database's tables (`(table, its columns)`, as
/// `information_schema` lists them): tables the catalogue does not know, catalogued tables
/// the database lacks, member data outside a homed table, homed tables without the column
/// that homes them. Empty when they agree.
pub fn problems(observed: &[(String, Vec<String>)]) -> Vec<String> {
    let mut out = Vec::new();
    for (table, columns) in observed {
        let has = |c: &str| columns.iter().any(|x| x == c);
        match find(table) {
            None => out.push(format!("table {table} is not in the schema catalogue")),
            Some(t) if t.locality == Locality::Homed => {
                if !has(HOME_REGION_COLUMN) {
                    out.push(format!(
                        "homed table {table} has no {HOME_REGION_COLUMN} column"
                    ));
                }
            }
            Some(t) => {
                for column in MEMBER_COLUMNS.iter().filter(|c| has(c)) {
                    out.push(format!(
                        "table {table} holds member data ({column}) but is catalogued {:?}",
                        t.locality
                    ));
                }
            }
        }
    }
    for t in TABLES {
        if !observed.iter().any(|(name, _)| name == t.name) {
            out.push(format!("catalogued table {} does not exist", t.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Vec<(String, Vec<String>)> {
        TABLES
            .iter()
            .map(|t| {
                let columns = match t.locality {
                    Locality::Homed => vec!["member_id".into(), HOME_REGION_COLUMN.into()],
                    _ => vec!["name".into()],
                };
                (t.name.to_owned(), columns)
            })
            .collect()
    }

    #[test]
    fn a_database_matching_the_catalogue_has_no_problems() {
        assert_eq!(problems(&database()), Vec::<String>::new());
    }

    #[test]
    fn an_uncatalogued_table_and_member_data_in_a_global_table_are_reported() {
        let mut db = database();
        db.push((
            "member_notes".into(),
            vec!["member_id".into(), HOME_REGION_COLUMN.into()],
        ));
        db.iter_mut()
            .find(|(n, _)| n == "tiers")
            .unwrap()
            .1
            .push("member_id".into());
        db.retain(|(n, _)| n != "holds");
        assert_eq!(
            problems(&db),
            [
                "table tiers holds member data (member_id) but is catalogued Global",
                "table member_notes is not in the schema catalogue",
                "catalogued table holds does not exist",
            ]
        );
    }

    #[test]
    fn every_table_is_listed_once() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table is listed twice");
    }

    #[test]
    fn member_data_tables_are_homed() {
        for name in [
            "members",
            "ledger_entries",
            "tier_history",
            "campaign_member_usage",
        ] {
            assert_eq!(
                find(name).map(|t| t.locality),
                Some(Locality::Homed),
                "{name}"
            );
        }
        assert!(names(Locality::Homed).all(|n| !n.is_empty()));
    }
}
