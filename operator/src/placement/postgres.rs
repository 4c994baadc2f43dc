//! PostgreSQL has no physical placement: the backend records the desired placement as applied
//! in `region_placements` (backend `postgres`), so the same status and tests work everywhere.

use futures::FutureExt;
use futures::future::BoxFuture;
use loyalty_crds::region::LoyaltyRegionSpec;

use super::{Applied, DatabasePlan, PlacementBackend};
use crate::Result;
use crate::db::Db;

/// Records placement without applying anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresBackend;

impl PlacementBackend for PostgresBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }

    fn apply<'a>(
        &'a self,
        db: &'a Db,
        _plan: &'a DatabasePlan,
        region: &'a LoyaltyRegionSpec,
    ) -> BoxFuture<'a, Result<Applied>> {
        async move {
            super::record(db, self.name(), region, Some(&region.database)).await?;
            Ok(Applied {
                placement: region.database.clone(),
            })
        }
        .boxed()
    }
}
