//! The review queue as support reads it: reviews of the members this region serves (never
//! another residency group's), open ones oldest first, decided ones newest first.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::api::Review;
use crate::domain::fraud::{Flag, ReviewState};
use crate::error::{Error, Result};
use crate::store::Db;
use crate::store::idempotency::stored_value;

/// Which reviews to list.
#[derive(Debug, Clone, Copy)]
pub struct ReviewFilter {
    pub state: ReviewState,
    pub limit: i64,
}

fn review(row: &tokio_postgres::Row) -> Result<Review> {
    let flags: Vec<Flag> = stored_value("review flags", row.get(6))?;
    let state = row
        .get::<_, &str>(7)
        .parse()
        .map_err(|e| Error::Invariant(format!("a stored review is unreadable: {e}")))?;
    Ok(Review {
        review_id: row.get(0),
        member_id: row.get(1),
        hold_id: row.get(2),
        operation: row
            .get::<_, &str>(3)
            .parse()
            .map_err(|e| Error::Invariant(format!("a stored review is unreadable: {e}")))?,
        points: row.get(4),
        reference: row.get(5),
        flags,
        state,
        transfer_to: row.get::<_, Option<Uuid>>(8),
        expires_at: row.get(9),
        created_at: row.get(10),
        decided_at: row.get::<_, Option<DateTime<Utc>>>(11),
    })
}

impl Db {
    /// Up to `filter.limit` reviews in `filter.state` of members homed in the regions
    /// `region` serves.
    pub async fn reviews(&self, region: &str, filter: ReviewFilter) -> Result<Vec<Review>> {
        let order = if filter.state == ReviewState::Open {
            "ASC"
        } else {
            "DESC"
        };
        let sql = format!(
            "SELECT id, member_id, hold_id, operation, points, reference, flags, state, transfer_to, \
             expires_at, created_at, decided_at FROM fraud_reviews \
             WHERE state = $1 AND home_region IN (SELECT name FROM regions WHERE served_by = $2) \
             ORDER BY created_at {order}, id LIMIT $3"
        );
        let client = self.conn().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client
            .query(&stmt, &[&filter.state.as_str(), &region, &filter.limit])
            .await?;
        rows.iter().map(review).collect()
    }

    /// How many reviews of the members `region` serves are open: the queue depth.
    pub(super) async fn open_reviews(&self, region: &str) -> Result<i64> {
        let client = self.conn().await?;
        let row = client
            .query_one(
                "SELECT COUNT(*)::BIGINT FROM fraud_reviews WHERE state = 'open' \
                 AND home_region IN (SELECT name FROM regions WHERE served_by = $1)",
                &[&region],
            )
            .await?;
        Ok(row.get(0))
    }
}
