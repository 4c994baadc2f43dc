//! Loading the activity rules into the programme snapshot.

use deadpool_postgres::ClientWrapper;

use crate::domain::activity::{ActivityKind, ActivityRule, ActivityRules};
use crate::error::Result;

/// The rules as stored; a row the service cannot read is skipped loudly (that activity then
/// earns nothing, never a guessed amount).
pub async fn load(client: &ClientWrapper) -> Result<ActivityRules> {
    let rows = client
        .query(
            "SELECT kind, points, daily_cap, monthly_cap, lifetime_cap, referred_points, streak_days \
             FROM activity_rules",
            &[],
        )
        .await?;
    let mut rules = ActivityRules::new();
    for row in rows {
        let kind: String = row.get(0);
        let rule = ActivityRule {
            points: row.get(1),
            daily_cap: row.get(2),
            monthly_cap: row.get(3),
            lifetime_cap: row.get(4),
            referred_points: row.get(5),
            streak_days: i64::from(row.get::<_, i32>(6)),
        };
        match kind.parse::<ActivityKind>() {
            Ok(k) if rule.points > 0 && (k != ActivityKind::Streak || rule.streak_days > 0) => {
                rules.insert(k, rule);
            }
            _ => tracing::warn!(kind, "activity rule unknown or out of bounds; ignored"),
        }
    }
    Ok(rules)
}
