//! CockroachDB multi-region placement: idempotent DDL, verified by reading the database back.
//!
//! [`ddl`] compares the [`DatabasePlan`] with what the database reports ([`Observed`], parsed
//! from `SHOW REGIONS`, `SHOW SUPER REGIONS`, `SHOW SURVIVAL GOAL` and `SHOW CREATE TABLE`)
//! and emits only the missing statements, so running it twice emits nothing the second time.
//! Member tables get a computed, hidden `crdb_region` column of type `crdb_internal_region`
//! derived from `home_region` (the region the service assigned from the member's country at
//! enrolment, never the gateway), and become REGIONAL BY ROW on it. See ADR 0007.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use futures::FutureExt;
use futures::future::BoxFuture;
use loyalty_crds::region::{DatabasePlacement, LoyaltyRegionSpec, SurvivalGoal};
use tokio::sync::Mutex;
use tokio_postgres::SimpleQueryMessage;

use super::{Applied, DatabasePlan, Locality, PlacementBackend, TABLES};
use crate::db::Db;
use crate::{Error, Result};

/// The hidden column that homes each member-owned row.
pub const REGION_COLUMN: &str = "crdb_region";

/// One result row of a `SHOW` statement: column name → text value.
pub type TextRow = BTreeMap<String, String>;

/// What the database reports about its placement.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// Localities of the database, and the primary one.
    pub regions: BTreeSet<String>,
    pub primary: Option<String>,
    /// Super region → its localities.
    pub super_regions: BTreeMap<String, BTreeSet<String>>,
    /// `zone` or `region`, lower case as CockroachDB prints it.
    pub survival_goal: Option<String>,
    /// Table → its `SHOW CREATE TABLE` statement.
    pub tables: BTreeMap<String, String>,
}

/// Parses `SHOW REGIONS FROM DATABASE` (columns `region`, `primary`, …).
pub fn parse_regions(rows: &[TextRow]) -> (BTreeSet<String>, Option<String>) {
    let mut regions = BTreeSet::new();
    let mut primary = None;
    for row in rows {
        let Some(region) = row.get("region") else {
            continue;
        };
        regions.insert(region.clone());
        if row.get("primary").is_some_and(|p| is_true(p)) {
            primary = Some(region.clone());
        }
    }
    (regions, primary)
}

/// Parses `SHOW SUPER REGIONS FROM DATABASE` (columns `super_region_name`, `regions` as a
/// text array such as `{aws-eu-central-1,aws-eu-west-1}`).
pub fn parse_super_regions(rows: &[TextRow]) -> BTreeMap<String, BTreeSet<String>> {
    rows.iter()
        .filter_map(|row| {
            let name = row.get("super_region_name")?;
            let members = row
                .get("regions")?
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .map(|s| s.trim().trim_matches('"').to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            Some((name.clone(), members))
        })
        .collect()
}

/// Parses `SHOW SURVIVAL GOAL FROM DATABASE` (column `survival_goal`).
pub fn parse_survival_goal(rows: &[TextRow]) -> Option<String> {
    rows.first()?.get("survival_goal").map(|g| g.to_lowercase())
}

fn is_true(text: &str) -> bool {
    matches!(text, "t" | "true" | "TRUE" | "True")
}

/// The locality clause of a `SHOW CREATE TABLE` statement, normalised: `GLOBAL`,
/// `REGIONAL BY ROW AS crdb_region`, `REGIONAL BY TABLE IN PRIMARY REGION`, or `None`.
pub fn table_locality(create_statement: &str) -> Option<String> {
    let at = create_statement.rfind("LOCALITY ")?;
    let clause = create_statement[at + "LOCALITY ".len()..]
        .split([';', '\n'])
        .next()?
        .trim()
        .replace('"', "");
    Some(clause)
}

/// The `crdb_region` column definition line of a `SHOW CREATE TABLE`, if the column exists.
fn region_column_line(create_statement: &str) -> Option<&str> {
    create_statement
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with(REGION_COLUMN) || l.starts_with(&format!("\"{REGION_COLUMN}\"")))
}

/// Home regions whose mapping the existing `crdb_region` column lacks. A column that was
/// computed for fewer regions must be replaced by hand (ADR 0007), so this is a refusal.
pub fn missing_home_regions(create_statement: &str, plan: &DatabasePlan) -> Vec<String> {
    let Some(line) = region_column_line(create_statement) else {
        return Vec::new();
    };
    plan.home_regions
        .iter()
        .filter(|(home, locality)| {
            !line.contains(&format!("'{home}'")) || !line.contains(&format!("'{locality}'"))
        })
        .map(|(home, _)| home.clone())
        .collect()
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The computed region column: `home_region` mapped to the locality of that region.
fn region_column_expression(plan: &DatabasePlan) -> String {
    let mut case = String::from("CASE \"home_region\"");
    for (home, locality) in &plan.home_regions {
        let _ = write!(case, " WHEN {} THEN {}", literal(home), literal(locality));
    }
    case.push_str(" END");
    case
}

/// The statements that take the database from `observed` to `plan`, in order.
pub fn ddl(database: &str, plan: &DatabasePlan, observed: &Observed) -> Vec<String> {
    let db = quote(database);
    let mut out = Vec::new();
    if observed.primary.as_deref() != Some(plan.primary.as_str()) {
        out.push(format!(
            "ALTER DATABASE {db} PRIMARY REGION {}",
            quote(&plan.primary)
        ));
    }
    for region in &plan.regions {
        if *region != plan.primary && !observed.regions.contains(region) {
            out.push(format!(
                "ALTER DATABASE {db} ADD REGION IF NOT EXISTS {}",
                quote(region)
            ));
        }
    }
    let stale_super_regions: Vec<_> = plan
        .super_regions
        .iter()
        .filter(|(name, members)| observed.super_regions.get(*name) != Some(*members))
        .collect();
    if !stale_super_regions.is_empty() {
        out.push("SET enable_super_regions = 'on'".to_owned());
    }
    for (name, members) in stale_super_regions {
        let verb = if observed.super_regions.contains_key(name) {
            "ALTER"
        } else {
            "ADD"
        };
        let values: Vec<String> = members.iter().map(|m| quote(m)).collect();
        out.push(format!(
            "ALTER DATABASE {db} {verb} SUPER REGION {} VALUES {}",
            quote(name),
            values.join(", ")
        ));
    }
    let goal = match plan.survival_goal {
        SurvivalGoal::Zone => "zone",
        SurvivalGoal::Region => "region",
    };
    if observed.survival_goal.as_deref() != Some(goal) {
        out.push(format!(
            "ALTER DATABASE {db} SURVIVE {} FAILURE",
            goal.to_uppercase()
        ));
    }
    for table in TABLES {
        let create = observed
            .tables
            .get(table.name)
            .map(String::as_str)
            .unwrap_or("");
        out.extend(table_ddl(plan, table.name, table.locality, create));
    }
    out
}

/// The locality clause `SHOW CREATE TABLE` prints for a table placed with `locality`.
pub fn locality_clause(locality: Locality) -> String {
    match locality {
        Locality::Homed => format!("REGIONAL BY ROW AS {REGION_COLUMN}"),
        Locality::Global => "GLOBAL".to_owned(),
        Locality::PrimaryRegion => "REGIONAL BY TABLE IN PRIMARY REGION".to_owned(),
    }
}

/// The statements that give one table its catalogue locality; empty when it has it.
fn table_ddl(plan: &DatabasePlan, name: &str, locality: Locality, create: &str) -> Vec<String> {
    let mut out = Vec::new();
    if locality == Locality::Homed && region_column_line(create).is_none() {
        out.push(format!(
            "ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} crdb_internal_region NOT VISIBLE NOT NULL AS ({}) STORED",
            quote(name),
            quote(REGION_COLUMN),
            region_column_expression(plan)
        ));
    }
    let wanted = locality_clause(locality);
    if table_locality(create).as_deref() != Some(wanted.as_str()) {
        let target = match locality {
            Locality::Homed => format!("REGIONAL BY ROW AS {}", quote(REGION_COLUMN)),
            _ => wanted,
        };
        out.push(format!("ALTER TABLE {} SET LOCALITY {target}", quote(name)));
    }
    out
}

/// What still differs between `observed` and `plan` after applying: empty when verified.
pub fn verify(plan: &DatabasePlan, observed: &Observed) -> Vec<String> {
    let mut problems = Vec::new();
    for statement in ddl("loyalty", plan, observed) {
        if !statement.starts_with("SET ") {
            problems.push(format!("still needed: {statement}"));
        }
    }
    for table in super::catalogue_names(Locality::Homed) {
        if let Some(create) = observed.tables.get(table) {
            let missing = missing_home_regions(create, plan);
            if !missing.is_empty() {
                problems.push(format!(
                    "{table}.{REGION_COLUMN} does not map home regions {}; replace the column (ADR 0007)",
                    missing.join(", ")
                ));
            }
        }
    }
    problems
}

/// Applies and verifies multi-region DDL on the database `database`.
pub struct CockroachBackend {
    database: String,
    /// One placement at a time: region reconciles run concurrently, the DDL is database-wide.
    lock: Mutex<()>,
}

impl CockroachBackend {
    /// A backend for the database `database` (the one in the connection URL).
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            lock: Mutex::new(()),
        }
    }

    async fn observe(&self, db: &Db) -> Result<Observed> {
        let d = quote(&self.database);
        let (regions, primary) =
            parse_regions(&show(db, &format!("SHOW REGIONS FROM DATABASE {d}")).await?);
        let super_regions =
            parse_super_regions(&show(db, &format!("SHOW SUPER REGIONS FROM DATABASE {d}")).await?);
        let survival_goal =
            parse_survival_goal(&show(db, &format!("SHOW SURVIVAL GOAL FROM DATABASE {d}")).await?);
        let mut tables = BTreeMap::new();
        for table in TABLES {
            let rows = show(db, &format!("SHOW CREATE TABLE {}", quote(table.name))).await?;
            if let Some(create) = rows.first().and_then(|r| r.get("create_statement")) {
                tables.insert(table.name.to_owned(), create.clone());
            }
        }
        Ok(Observed {
            regions,
            primary,
            super_regions,
            survival_goal,
            tables,
        })
    }
}

/// Runs a `SHOW` statement and returns its rows as text.
async fn show(db: &Db, sql: &str) -> Result<Vec<TextRow>> {
    let conn = db.conn().await?;
    let messages = conn.simple_query(sql).await?;
    Ok(messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(
                row.columns()
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (c.name().to_owned(), row.get(i).unwrap_or("").to_owned()))
                    .collect(),
            ),
            _ => None,
        })
        .collect())
}

impl PlacementBackend for CockroachBackend {
    fn name(&self) -> &'static str {
        "cockroach"
    }

    fn apply<'a>(
        &'a self,
        db: &'a Db,
        plan: &'a DatabasePlan,
        region: &'a LoyaltyRegionSpec,
    ) -> BoxFuture<'a, Result<Applied>> {
        async move {
            let _one_at_a_time = self.lock.lock().await;
            let before = self.observe(db).await?;
            let statements = ddl(&self.database, plan, &before);
            if !statements.is_empty() {
                // DDL runs statement by statement (CockroachDB schema changes are their own
                // transactions); `SET` applies to the session, so all share one connection.
                let conn = db.conn().await?;
                for statement in &statements {
                    tracing::info!(%statement, "placement DDL");
                    conn.batch_execute(statement).await?;
                }
            }
            let after = self.observe(db).await?;
            let problems = verify(plan, &after);
            if !problems.is_empty() {
                super::record(db, self.name(), region, None).await?;
                return Err(Error::Placement(problems.join("; ")));
            }
            let placement = DatabasePlacement {
                locality: region.database.locality.clone(),
                primary: after.primary.as_deref() == Some(region.database.locality.as_str()),
                survival_goal: match after.survival_goal.as_deref() {
                    Some("region") => SurvivalGoal::Region,
                    _ => SurvivalGoal::Zone,
                },
            };
            super::record(db, self.name(), region, Some(&placement)).await?;
            Ok(Applied { placement })
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests;
