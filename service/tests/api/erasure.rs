//! Personal data at rest and erasure by crypto-shredding (ADR 0021): the profile is sealed
//! in the table, erasure destroys the key and leaves a ledger that still audits, and the
//! signed chain-head digest catches the deletion of a chain's newest entries.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use loyalty_service::config::Config;
use loyalty_service::crypto::{self, DigestKeys, DigestSigner};
use loyalty_service::metrics::Metrics;
use loyalty_service::store::Db;

use crate::helpers::{ALICE, TestApp, spawn_app, spawn_app_on, test_config};

/// Enrols a member of `external_id` (FR: homed here); returns their id.
async fn enrol(app: &TestApp, external_id: &str) -> Uuid {
    let res = app
        .post(
            "/v1/members",
            json!({"external_id": external_id, "country": "FR", "identity_hints": ["hint-1"]}),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
    res.body["member_id"].as_str().unwrap().parse().unwrap()
}

/// A pool on the app's database with the keys of this test process (the same ones the
/// in-process apps generated), or with `signer` instead of its digest key.
fn pool(app: &TestApp, signer: Option<DigestSigner>) -> Db {
    let (keyring, mut digest) = crypto::files::service_keys(&Config::default().crypto).unwrap();
    if let Some(signer) = signer {
        digest = DigestKeys {
            signer: Some(std::sync::Arc::new(signer)),
            verifier: None,
        };
    }
    Db::connect(
        &app.db_url,
        2,
        std::time::Duration::from_secs(5),
        Metrics::new(),
    )
    .unwrap()
    .with_keys(Some(keyring), digest)
}

/// Every row of `table` as text, for searching for a plaintext.
async fn table_text(app: &TestApp, table: &str) -> String {
    let rows = app
        .sql()
        .await
        .query(&format!("SELECT t::text FROM {table} t"), &[])
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_profile_is_stored_sealed_and_the_external_id_still_finds_the_member() {
    let app = spawn_app().await;
    let member = enrol(&app, "cust-at-rest-4711").await;
    for table in [
        "members",
        "member_keys",
        "idempotency_keys",
        "outbox",
        "balances",
    ] {
        let text = table_text(&app, table).await;
        assert!(
            !text.contains("cust-at-rest-4711"),
            "the external id in plaintext in {table}: {text}"
        );
    }
    let row = app
        .sql()
        .await
        .query_one(
            "SELECT external_id, country, profile_sealed IS NOT NULL, external_id_index IS NOT NULL \
             FROM members WHERE id = $1",
            &[&member],
        )
        .await
        .unwrap();
    let columns: (Option<String>, Option<String>, bool, bool) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    assert_eq!(columns, (None, None, true, true));
    let read = app.get(&format!("/v1/members/{member}")).await;
    assert_eq!(
        (
            read.body["external_id"].clone(),
            read.body["country"].clone()
        ),
        (json!("cust-at-rest-4711"), json!("FR"))
    );
    // The blind index still finds the member: a second enrolment is refused, naming them.
    let again = app
        .post(
            "/v1/members",
            json!({"external_id": "cust-at-rest-4711", "country": "FR"}),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "member_exists"),
        "{}",
        again.body
    );
    assert_eq!(
        again.body["error"]["details"]["member_id"],
        json!(member),
        "{}",
        again.body
    );
}

#[tokio::test]
async fn an_enrolment_replayed_by_its_key_answers_the_same_profile_it_never_stored() {
    let app = spawn_app().await;
    let body = json!({"external_id": "cust-replay-1", "country": "FR"});
    let first = app
        .post_idem("/v1/members", "enrol-replay-1", body.clone())
        .await;
    let replay = app.post_idem("/v1/members", "enrol-replay-1", body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(replay.replayed);
    assert_eq!(replay.body, first.body);
}

/// What erasure leaves: one row per check, each asserted.
async fn assert_erased(app: &TestApp, member: Uuid, external_id: &str, display_name: &str) {
    let read = app.get(&format!("/v1/members/{member}")).await;
    assert_eq!(read.status, StatusCode::OK);
    assert!(
        read.body["external_id"].is_null() && read.body["country"].is_null(),
        "{}",
        read.body
    );
    assert!(read.body["erased_at"].is_string(), "{}", read.body);
    let balance = app.balance(member).await;
    for column in ["available", "pending", "held", "qualifying"] {
        assert_eq!(balance[column], 0, "{column}: {balance}");
    }
    // Lookups by external id no longer find the member: the id enrols someone new.
    let again = app
        .post(
            "/v1/members",
            json!({"external_id": external_id, "country": "FR"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_ne!(again.body["member_id"], json!(member));
    let top = app.get("/v1/leaderboard?top=100").await;
    assert!(
        !top.body.to_string().contains(display_name),
        "still on the board: {}",
        top.body
    );
    let rank = app.get(&format!("/v1/members/{member}/rank")).await;
    assert_eq!(
        (rank.status, rank.code()),
        (StatusCode::NOT_FOUND, "member_not_found")
    );
    let earn = app
        .post(
            &format!("/v1/members/{member}/earn"),
            json!({"source": "hotel-bookings", "booking_ref": "BK-AFTER", "product": "hotel",
                     "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
        )
        .await;
    assert_eq!(
        (earn.status, earn.code()),
        (StatusCode::NOT_FOUND, "member_not_found"),
        "nothing more is written"
    );
    let keys = app
        .sql()
        .await
        .query("SELECT 1 FROM member_keys WHERE member_id = $1", &[&member])
        .await
        .unwrap();
    assert!(keys.is_empty(), "the data key is destroyed");
    app.assert_audit_clean().await;
}

#[tokio::test]
async fn erasure_answers_each_case_as_documented() {
    let app = spawn_app().await;
    // An unknown member: 404, nothing written.
    let before = app.footprint().await;
    let unknown = app
        .post(
            &format!("/v1/members/{}/erasure", Uuid::new_v4()),
            Value::Null,
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::NOT_FOUND, "member_not_found")
    );
    assert_eq!(app.footprint().await, before);
    // (external id, points earned, points held, expected voided holds, expected forfeited).
    let cases = [
        ("cust-empty", 0, 0, 0, 0),
        ("cust-balance", 1_000, 0, 0, 1_000),
        ("cust-holds", 1_000, 300, 1, 1_000),
    ];
    for (external_id, earned, held, voided, forfeited) in cases {
        let member = enrol(&app, external_id).await;
        if earned > 0 {
            app.fund(member, &format!("BK-{external_id}"), earned).await;
        }
        if held > 0 {
            let hold = app
                .post(
                    &format!("/v1/members/{member}/holds"),
                    json!({"points": held, "reference": "H-1"}),
                )
                .await;
            assert_eq!(hold.status, StatusCode::CREATED, "{}", hold.body);
        }
        let name = app.get(&format!("/v1/members/{member}/rank")).await.body["you"]["display_name"]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("/v1/members/{member}/erasure");
        let erased = app
            .post_idem(&path, &format!("erase-{external_id}"), Value::Null)
            .await;
        assert_eq!(
            erased.status,
            StatusCode::OK,
            "{external_id}: {}",
            erased.body
        );
        assert_eq!(
            (
                erased.body["voided_holds"].clone(),
                erased.body["forfeited_points"].clone(),
                erased.body["already_erased"].clone()
            ),
            (json!(voided), json!(forfeited), json!(false)),
            "{external_id}: {}",
            erased.body
        );
        // The same key replays; another request finds the member already erased and writes nothing.
        let replay = app
            .post_idem(&path, &format!("erase-{external_id}"), Value::Null)
            .await;
        assert!(
            replay.replayed && replay.body == erased.body,
            "{}",
            replay.body
        );
        // The footprint without its idempotency_keys count: the repeat stores its record.
        let footprint = || async {
            let mut f = app.footprint().await;
            f.remove(6);
            f
        };
        let before = footprint().await;
        let twice = app.post(&path, Value::Null).await;
        assert_eq!(
            (twice.status, twice.body["already_erased"].clone()),
            (StatusCode::OK, json!(true)),
            "{}",
            twice.body
        );
        assert_eq!(twice.body["erased_at"], erased.body["erased_at"]);
        assert_eq!(
            footprint().await,
            before,
            "a repeated erasure wrote more than its record"
        );
        assert_erased(&app, member, external_id, &name).await;
    }
}

#[tokio::test]
async fn the_export_after_erasure_shows_only_what_remains_and_the_event_names_no_one() {
    let app = spawn_app().await;
    let member = enrol(&app, "cust-export-9").await;
    app.fund(member, "BK-EXPORT", 500).await;
    let erased = app
        .post(&format!("/v1/members/{member}/erasure"), Value::Null)
        .await;
    assert_eq!(erased.status, StatusCode::OK, "{}", erased.body);
    let export = app.get(&format!("/v1/members/{member}/export")).await;
    assert_eq!(export.status, StatusCode::OK);
    let doc = &export.body;
    assert!(
        doc["member"]["external_id"].is_null() && doc["member"]["erased_at"].is_string(),
        "{doc}"
    );
    assert_eq!(doc["identity_hints"]["count"], 0, "{doc}");
    let reasons: Vec<&str> = doc["ledger_entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons.last(),
        Some(&"points forfeited on erasure"),
        "{reasons:?}"
    );
    assert!(!doc.to_string().contains("cust-export-9"));
    let events = app
        .sql()
        .await
        .query("SELECT event::text FROM outbox WHERE member_id = $1 AND type = 'travel.loyalty.member.erased'", &[&member])
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    let event: String = events[0].get(0);
    assert!(
        !event.contains("cust-export-9") && event.contains("\"forfeited_points\": 500"),
        "{event}"
    );
}

#[tokio::test]
async fn a_member_stored_before_sealing_is_sealed_by_the_seal_pass_and_erasable_either_way() {
    let app = spawn_app().await;
    // The demo members are seeded in plaintext, as rows of an earlier release are.
    let db = pool(&app, None);
    let sealed = db.seal_plaintext_members(100).await.unwrap();
    assert!(sealed >= 3, "{sealed}");
    assert_eq!(
        db.seal_plaintext_members(100).await.unwrap(),
        0,
        "nothing left"
    );
    assert!(!table_text(&app, "members").await.contains("demo-alice"));
    let alice = app.get(&format!("/v1/members/{ALICE}")).await;
    assert_eq!(alice.body["external_id"], "demo-alice", "{}", alice.body);
    // A row still in plaintext is erased all the same.
    app.sql()
        .await
        .execute(
            "INSERT INTO members (id, external_id, country, home_region, residency_group, tier, created_at) \
             VALUES ($1, 'cust-legacy', 'FR', 'eu-west-1', 'eu', 'basic', now())",
            &[&Uuid::from_u128(77)],
        )
        .await
        .unwrap();
    app.sql()
        .await
        .execute(
            "INSERT INTO balances (member_id, home_region, residency_group, last_hash, updated_at) \
             VALUES ($1, 'eu-west-1', 'eu', '\\x00', now())",
            &[&Uuid::from_u128(77)],
        )
        .await
        .unwrap();
    let legacy = app
        .post(
            &format!("/v1/members/{}/erasure", Uuid::from_u128(77)),
            Value::Null,
        )
        .await;
    assert_eq!(legacy.status, StatusCode::OK, "{}", legacy.body);
    assert!(!table_text(&app, "members").await.contains("cust-legacy"));
}

#[tokio::test]
async fn deleting_the_newest_entry_of_a_chain_is_caught_only_by_the_signed_digest() {
    let app = spawn_app().await;
    let member = enrol(&app, "cust-digest-1").await;
    app.fund(member, "BK-D1", 100).await;
    app.fund(member, "BK-D2", 200).await;
    let digest = pool(&app, None)
        .sign_chain_digest("eu-west-1")
        .await
        .unwrap();
    assert!(digest.members >= 1);
    app.assert_audit_clean().await;
    // A careful tamperer: the newest entry goes, and everything that would betray it is
    // rewound to match (its lot, its earn, its event, the balance and the chain head).
    let sql = app.sql().await;
    sql.batch_execute(&format!(
        "DELETE FROM ledger_entries WHERE member_id = '{member}' AND seq = 2;
         DELETE FROM lots WHERE member_id = '{member}' AND earn_seq = 2;
         DELETE FROM earns WHERE member_id = '{member}' AND entry_seq = 2;
         DELETE FROM outbox WHERE member_id = '{member}' AND member_seq = 2;
         UPDATE balances SET available = available - 200, lifetime = lifetime - 200,
             qualifying = qualifying - 200, last_seq = 1,
             last_hash = (SELECT entry_hash FROM ledger_entries WHERE member_id = '{member}' AND seq = 1)
         WHERE member_id = '{member}';"
    ))
    .await
    .unwrap();
    let audit = app.get("/v1/admin/audit").await;
    let checks: Vec<(&str, &str)> = audit.body["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["check"].as_str().unwrap(),
                m["member_id"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // Every other check passes: without the digest this deletion is invisible.
    assert_eq!(
        checks,
        vec![("chain_head_signed", member.to_string().as_str())],
        "{:#}",
        audit.body
    );
}

#[tokio::test]
async fn a_digest_signed_by_another_key_is_reported() {
    let app = spawn_app().await;
    let member = enrol(&app, "cust-digest-2").await;
    app.fund(member, "BK-F1", 100).await;
    let forger = DigestSigner::from_seed(rand_seed());
    pool(&app, Some(forger))
        .sign_chain_digest("eu-west-1")
        .await
        .unwrap();
    let audit = app.get("/v1/admin/audit").await;
    let checks: Vec<&str> = audit.body["mismatches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["check"].as_str().unwrap())
        .collect();
    assert_eq!(checks, vec!["chain_digest_signed"], "{:#}", audit.body);
}

fn rand_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed.iter_mut()
        .enumerate()
        .for_each(|(i, b)| *b = (i as u8).wrapping_mul(37) ^ 0x5a);
    seed
}

#[tokio::test]
async fn a_rotated_key_encryption_key_opens_old_members_and_wraps_new_ones() {
    let dir = std::env::temp_dir().join(format!("erasure-kek-{}", Uuid::new_v4().simple()));
    let mut config = test_config();
    config.crypto = crypto::files::with_generated_keys(config.crypto, &dir).unwrap();
    let kek_file = config.crypto.kek_file.clone().unwrap();
    let old = std::fs::read_to_string(&kek_file).unwrap();
    let first = spawn_app_on(&crate::helpers::fresh_database().await, config.clone()).await;
    let before = enrol(&first, "cust-rotate-1").await;
    // The rotation: a new first line; the old version stays for what it wrapped.
    std::fs::write(&kek_file, format!("kek-2 {}\n{old}", "ab".repeat(32))).unwrap();
    let rotated = spawn_app_on(&first.db_url, config.clone()).await;
    assert_eq!(
        rotated.get(&format!("/v1/members/{before}")).await.body["external_id"],
        "cust-rotate-1"
    );
    let after = enrol(&rotated, "cust-rotate-2").await;
    let versions = rotated
        .sql()
        .await
        .query(
            "SELECT member_id, kek_id FROM member_keys WHERE member_id = ANY($1)",
            &[&vec![before, after]],
        )
        .await
        .unwrap();
    let version = |m: Uuid| {
        versions
            .iter()
            .find(|r| r.get::<_, Uuid>(0) == m)
            .map(|r| r.get::<_, String>(1))
    };
    assert_eq!(
        (version(before).as_deref(), version(after).as_deref()),
        (Some("generated-kek-1"), Some("kek-2"))
    );
    // Once the old version is retired, what only it wrapped no longer opens.
    std::fs::write(&kek_file, format!("kek-2 {}\n", "ab".repeat(32))).unwrap();
    let retired = spawn_app_on(&first.db_url, config).await;
    assert_eq!(
        retired.get(&format!("/v1/members/{before}")).await.status,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert_eq!(
        retired.get(&format!("/v1/members/{after}")).await.status,
        StatusCode::OK
    );
    std::fs::remove_dir_all(dir).unwrap();
}
