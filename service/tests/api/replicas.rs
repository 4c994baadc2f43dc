//! Several service instances on one database: what one writes, the next read through any
//! other sees at once (the seed's "customers see points immediately"). The service keeps no
//! cache of balances; this test is what any future cache must keep passing.

use serde_json::json;

use crate::helpers::{ALICE, fresh_database, spawn_app_on, test_config};

#[tokio::test]
async fn a_write_through_one_instance_is_read_at_once_through_another() {
    let db = fresh_database().await;
    let a = spawn_app_on(&db, test_config()).await;
    let b = spawn_app_on(&db, test_config()).await;
    let alice_on = [a.as_member(ALICE), b.as_member(ALICE)];
    let mut expected = a.balance(ALICE).await["available"].as_i64().unwrap();
    for i in 0..20 {
        let (writer, reader) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        writer.fund(ALICE, &format!("RYW-{i}"), 10).await;
        expected += 10;
        assert_eq!(
            reader.balance(ALICE).await["available"],
            expected,
            "after earn {i}"
        );
        let member = &alice_on[(i + 1) % 2];
        let own = member.get(&format!("/v1/members/{ALICE}/balance")).await;
        assert_eq!(
            own.body["available"], expected,
            "the member's app, earn {i}"
        );
        if i % 4 == 3 {
            let path = format!("/v1/members/{ALICE}/redeem");
            let res = reader
                .post(
                    &path,
                    json!({"points": 15, "reference": format!("RYW-R-{i}")}),
                )
                .await;
            assert_eq!(res.status, axum::http::StatusCode::CREATED, "{}", res.body);
            expected -= 15;
            assert_eq!(
                writer.balance(ALICE).await["available"],
                expected,
                "after redeem {i}"
            );
        }
    }
    a.assert_audit_clean().await;
}
