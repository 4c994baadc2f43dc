//! Database placement: where each region's rows live.
//!
//! [`plan`] turns the declared LoyaltyRegions into one database-wide [`DatabasePlan`] (placement
//! is a property of the whole database: its regions, super regions and survival goal), or
//! refuses with a [`Refusal`] that the region controller reports in its `Placed` condition.
//! A [`PlacementBackend`] applies the plan: [`cockroach::CockroachBackend`] emits and verifies
//! CockroachDB multi-region DDL, [`postgres::PostgresBackend`] records the desired and applied
//! placement in `region_placements` (PostgreSQL has no physical placement). See ADR 0007.

pub mod cockroach;
pub mod postgres;

use std::collections::{BTreeMap, BTreeSet};

use futures::future::BoxFuture;
use loyalty_crds::region::{DatabasePlacement, LoyaltyRegionSpec, SurvivalGoal};

use crate::Result;
use crate::db::Db;

pub use loyalty_schema::catalogue::{Locality, TABLES, names as catalogue_names};

/// A region survival goal needs at least this many regions, in the database and in each
/// super region.
pub const MIN_REGIONS_FOR_REGION_SURVIVAL: usize = 3;

/// The placement the declared regions ask of the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabasePlan {
    /// The database's primary region (a locality).
    pub primary: String,
    /// Every locality, the primary included.
    pub regions: BTreeSet<String>,
    /// Residency group → its localities: each group is a super region, so that a group's
    /// data (and its replicas) never leave the group's regions.
    pub super_regions: BTreeMap<String, BTreeSet<String>>,
    /// Service region name (`home_region` values) → locality, for the computed region column.
    pub home_regions: BTreeMap<String, String>,
    /// What the database survives.
    pub survival_goal: SurvivalGoal,
}

/// Why the declared regions cannot be placed. Nothing is applied while any holds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "no LoyaltyRegion declares database.primary: true; a multi-region database needs one primary region"
    )]
    NoPrimaryRegion,
    #[error("several LoyaltyRegions declare database.primary: true: {0}")]
    SeveralPrimaryRegions(String),
    #[error("locality {locality} is declared by both {first} and {second}")]
    SharedLocality {
        locality: String,
        first: String,
        second: String,
    },
    #[error(
        "survivalGoal {declared:?} differs from the primary region's {primary:?}; the survival goal is a property of the whole database"
    )]
    SurvivalGoalMismatch {
        declared: SurvivalGoal,
        primary: SurvivalGoal,
    },
    #[error(
        "survivalGoal Region needs at least {MIN_REGIONS_FOR_REGION_SURVIVAL} regions, {have} declared"
    )]
    TooFewRegions { have: usize },
    #[error(
        "survivalGoal Region needs at least {MIN_REGIONS_FOR_REGION_SURVIVAL} regions in super region {group}, {have} declared"
    )]
    SuperRegionTooSmall { group: String, have: usize },
}

impl Refusal {
    /// The CamelCase reason of the `Placed` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::NoPrimaryRegion => "NoPrimaryRegion",
            Refusal::SeveralPrimaryRegions(_) => "SeveralPrimaryRegions",
            Refusal::SharedLocality { .. } => "SharedLocality",
            Refusal::SurvivalGoalMismatch { .. } => "SurvivalGoalMismatch",
            Refusal::TooFewRegions { .. } => "SurvivalGoalUnsatisfiable",
            Refusal::SuperRegionTooSmall { .. } => "SurvivalGoalUnsatisfiable",
        }
    }
}

/// The database plan for `all` declared regions, as seen from region `this` (whose own
/// survival goal must agree with the primary's).
pub fn plan(all: &[LoyaltyRegionSpec], this: &LoyaltyRegionSpec) -> Result<DatabasePlan, Refusal> {
    let mut sorted: Vec<&LoyaltyRegionSpec> = all.iter().collect();
    if !sorted.iter().any(|r| r.region == this.region) {
        sorted.push(this);
    }
    sorted.sort_by(|a, b| a.region.as_str().cmp(b.region.as_str()));
    let primaries: Vec<&&LoyaltyRegionSpec> =
        sorted.iter().filter(|r| r.database.primary).collect();
    let primary = match primaries.as_slice() {
        [] => return Err(Refusal::NoPrimaryRegion),
        [one] => *one,
        many => {
            let names: Vec<&str> = many.iter().map(|r| r.region.as_str()).collect();
            return Err(Refusal::SeveralPrimaryRegions(names.join(", ")));
        }
    };
    let mut owner_of_locality: BTreeMap<&str, &str> = BTreeMap::new();
    let mut plan = DatabasePlan {
        primary: primary.database.locality.clone(),
        regions: BTreeSet::new(),
        super_regions: BTreeMap::new(),
        home_regions: BTreeMap::new(),
        survival_goal: primary.database.survival_goal,
    };
    for r in &sorted {
        let locality = r.database.locality.as_str();
        if let Some(first) = owner_of_locality.insert(locality, r.region.as_str()) {
            return Err(Refusal::SharedLocality {
                locality: locality.to_owned(),
                first: first.to_owned(),
                second: r.region.to_string(),
            });
        }
        plan.regions.insert(locality.to_owned());
        plan.super_regions
            .entry(r.residency_group.to_string())
            .or_default()
            .insert(locality.to_owned());
        plan.home_regions
            .insert(r.region.to_string(), locality.to_owned());
    }
    if this.database.survival_goal != plan.survival_goal {
        return Err(Refusal::SurvivalGoalMismatch {
            declared: this.database.survival_goal,
            primary: plan.survival_goal,
        });
    }
    if plan.survival_goal == SurvivalGoal::Region {
        if plan.regions.len() < MIN_REGIONS_FOR_REGION_SURVIVAL {
            return Err(Refusal::TooFewRegions {
                have: plan.regions.len(),
            });
        }
        if let Some((group, members)) = plan
            .super_regions
            .iter()
            .find(|(_, m)| m.len() < MIN_REGIONS_FOR_REGION_SURVIVAL)
        {
            return Err(Refusal::SuperRegionTooSmall {
                group: group.clone(),
                have: members.len(),
            });
        }
    }
    Ok(plan)
}

/// What a backend applied for one region, read back from the database where it can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The region's placement as the database now has it.
    pub placement: DatabasePlacement,
}

/// Applies a database plan. Implementations must be idempotent: every reconcile applies the
/// whole plan again and only the missing parts change anything.
pub trait PlacementBackend: Send + Sync {
    /// `postgres` or `cockroach`: recorded in `region_placements.backend`.
    fn name(&self) -> &'static str;

    /// Applies `plan` and returns what the database has for `region`.
    fn apply<'a>(
        &'a self,
        db: &'a Db,
        plan: &'a DatabasePlan,
        region: &'a LoyaltyRegionSpec,
    ) -> BoxFuture<'a, Result<Applied>>;
}

/// Records a region's desired and applied placement; both backends do it.
pub(crate) async fn record(
    db: &Db,
    backend: &'static str,
    region: &LoyaltyRegionSpec,
    applied: Option<&DatabasePlacement>,
) -> Result<()> {
    let work = crate::db::RecordPlacement {
        region: region.region.to_string(),
        desired: serde_json::to_value(&region.database)?,
        applied: applied.map(serde_json::to_value).transpose()?,
        backend,
    };
    db.serializable("record_placement", &work).await
}
