use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ALICE, CARLA, spawn_app};

#[tokio::test]
async fn enrolling_a_member_homes_them_by_country() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": "cust-42", "country": "DE"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    assert_eq!(res.body["home_region"], "eu-central-1");
    assert_eq!(res.body["residency_group"], "eu");
    assert_eq!(res.body["tier"], "basic");
    let id = res.body["member_id"].as_str().unwrap();
    let member = app.get(&format!("/v1/members/{id}")).await;
    assert_eq!(member.status, StatusCode::OK);
    assert_eq!(member.body["external_id"], "cust-42");
    let balance = app.get(&format!("/v1/members/{id}/balance")).await;
    assert_eq!(balance.body["available"], 0);
}

#[tokio::test]
async fn enrolling_an_existing_external_id_is_a_conflict_naming_the_member() {
    let app = spawn_app().await;
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": "demo-alice", "country": "FR"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CONFLICT);
    assert_eq!(res.code(), "member_exists");
    assert_eq!(res.body["error"]["details"]["member_id"], ALICE.to_string());
}

#[tokio::test]
async fn a_member_of_another_residency_group_is_sent_to_their_region() {
    let app = spawn_app().await;
    for res in [
        app.post(
            "/v1/members",
            json!({"external_id": "cust-us", "country": "US"}),
        )
        .await,
        app.get(&format!("/v1/members/{CARLA}")).await,
        app.get(&format!("/v1/members/{CARLA}/balance")).await,
        app.post(
            &format!("/v1/members/{CARLA}/redeem"),
            json!({"points": 1, "reference": "R1"}),
        )
        .await,
    ] {
        assert_eq!(res.status, StatusCode::MISDIRECTED_REQUEST, "{}", res.body);
        assert_eq!(res.code(), "wrong_region");
        assert_eq!(res.body["error"]["details"]["serving_region"], "us-east-1");
        assert_eq!(
            res.body["error"]["details"]["endpoint"],
            "http://127.0.0.1:8082"
        );
    }
}

#[tokio::test]
async fn a_fenced_region_serves_nobody_and_is_not_ready() {
    let app = spawn_app().await;
    let sql = app.sql().await;
    sql.execute("UPDATE regions SET state = 'fenced', epoch = epoch + 1, served_by = 'eu-central-1' WHERE name = 'eu-west-1'", &[])
        .await
        .unwrap();
    let res = app
        .post(
            &format!("/v1/members/{ALICE}/redeem"),
            json!({"points": 1, "reference": "R1"}),
        )
        .await;
    assert_eq!(res.status, StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(
        res.body["error"]["details"]["serving_region"],
        "eu-central-1"
    );
    assert_eq!(
        app.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}
