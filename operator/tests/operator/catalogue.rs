//! The schema catalogue against a real database migrated by the service's migrations: every
//! table is catalogued, and every table holding member data is homed (placed REGIONAL BY ROW
//! on CockroachDB), so no member's rows can be left in the primary region by omission.

use loyalty_schema::catalogue;

use crate::helpers::{fresh_database, sql};

#[tokio::test]
async fn every_migrated_table_is_catalogued_and_member_data_is_homed() {
    let db = sql(&fresh_database().await).await;
    let rows = db
        .query(
            "SELECT t.table_name::TEXT, array_agg(c.column_name::TEXT ORDER BY c.column_name) \
             FROM information_schema.tables t \
             JOIN information_schema.columns c ON c.table_schema = t.table_schema AND c.table_name = t.table_name \
             WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
             GROUP BY t.table_name ORDER BY t.table_name",
            &[],
        )
        .await
        .unwrap();
    let observed: Vec<(String, Vec<String>)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert!(observed.len() >= catalogue::TABLES.len(), "{observed:?}");
    assert_eq!(catalogue::problems(&observed), Vec::<String>::new());
}
