//! `spawn_app`: a service instance on port 0 against a fresh database cloned from a
//! migrated, seeded template on the process's private PostgreSQL.

use std::sync::OnceLock;
use std::time::Duration;

use loyalty_service::auth::Scope;
use loyalty_service::auth::dev::DevIssuer;
use loyalty_service::config::{Config, LimitsConfig};
use loyalty_service::startup::Application;
use loyalty_service::store::{migrate, seed};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

pub const ALICE: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
pub const BRUNO: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0002);
pub const CARLA: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0003);
const TEMPLATE: &str = "loyalty_template";

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub db_url: String,
}

pub const TEST_ISSUER: &str = "https://issuer.test.invalid";
pub const TEST_AUDIENCE: &str = "loyalty-api";
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The test process's identity provider: one key, its key set in a file the apps read.
pub fn issuer() -> &'static DevIssuer {
    static ISSUER: OnceLock<DevIssuer> = OnceLock::new();
    ISSUER.get_or_init(|| {
        let issuer = DevIssuer::generate(TEST_ISSUER, TEST_AUDIENCE);
        issuer
            .write_jwks(&jwks_file())
            .expect("write the test key set");
        issuer
    })
}

/// Where the test issuer's key set is written (a service process reads it).
pub fn jwks_file() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("loyalty-test-jwks-{}.json", std::process::id()))
}

/// A token of the test issuer.
pub fn token(subject: &str, scopes: &[Scope]) -> String {
    issuer().token(subject, "tests", scopes, TOKEN_TTL)
}

/// A client that sends `token` on every request (none: no Authorization header).
pub fn client_with(token: Option<&str>) -> reqwest::Client {
    builder_with(token).build().unwrap()
}

/// A client builder whose clients send `token` on every request.
pub fn builder_with(token: Option<&str>) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .expect("a token is a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder().default_headers(headers)
}

pub struct Response {
    pub status: StatusCode,
    pub body: Value,
    pub replayed: bool,
}

impl Response {
    /// The machine-readable error code, or "" for a success.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

fn template() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let server = pgharness::shared();
        server
            .create_database(TEMPLATE, None)
            .expect("create template database");
        let url = server.url(TEMPLATE);
        // The template is prepared on a runtime of its own: tests each run their own.
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(async move {
                    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    let driver = tokio::spawn(conn);
                    migrate::run(&client).await.unwrap();
                    seed::reference_data(&client).await.unwrap();
                    seed::demo_members(&client).await.unwrap();
                    drop(client);
                    driver.await.unwrap().unwrap();
                })
        })
        .join()
        .expect("template setup");
    });
    TEMPLATE
}

/// A fresh database for one test.
pub async fn fresh_database() -> String {
    let name = format!("t_{}", Uuid::new_v4().simple());
    let template = template();
    let db = name.clone();
    tokio::task::spawn_blocking(move || pgharness::shared().create_database(&db, Some(template)))
        .await
        .unwrap()
        .expect("create test database");
    pgharness::shared().url(&name)
}

/// Port 0, no background jobs (sweeps, rank bands), the test issuer's key set, and no rate
/// limits (the tests of the limits set their own).
pub fn test_config() -> Config {
    let defaults = Config::default();
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        jobs: loyalty_service::config::JobsConfig {
            interval_ms: 0,
            ..defaults.jobs.clone()
        },
        // Tests build rank bands when they mean to (`Db::rebuild_rank_bands`).
        leaderboard: loyalty_service::config::LeaderboardConfig {
            bands_interval_s: 0,
            ..defaults.leaderboard.clone()
        },
        auth: issuer().auth_config(&jwks_file()),
        limits: LimitsConfig::UNLIMITED,
        ..defaults
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_on(&fresh_database().await, test_config()).await
}

/// Another instance on an existing database (several instances, or another region).
pub async fn spawn_app_on(db_url: &str, config: Config) -> TestApp {
    let app = Application::build(config, db_url).await.expect("build app");
    let addr = app.local_addr().unwrap();
    tokio::spawn(app.serve(std::future::pending()));
    TestApp {
        base: format!("http://{addr}"),
        // Tests act with every service scope unless they say otherwise (`as_member`, `with_token`).
        http: client_with(Some(&token("platform-tests", &Scope::SERVICES))),
        db_url: db_url.to_owned(),
    }
}

impl TestApp {
    /// The same instance, called with `token` (none: without a token).
    pub fn with_token(&self, token: Option<&str>) -> TestApp {
        TestApp {
            base: self.base.clone(),
            http: client_with(token),
            db_url: self.db_url.clone(),
        }
    }

    /// The same instance, called with `member`'s own token.
    pub fn as_member(&self, member: Uuid) -> TestApp {
        self.with_token(Some(&token(&member.to_string(), &[Scope::Member])))
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Response {
        let res = req.send().await.expect("request");
        let status = res.status();
        let replayed = res.headers().contains_key("idempotent-replayed");
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Response {
            status,
            body,
            replayed,
        }
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    pub async fn post(&self, path: &str, body: Value) -> Response {
        self.send(self.http.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    pub async fn post_idem(&self, path: &str, key: &str, body: Value) -> Response {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .header("Idempotency-Key", key)
                .json(&body),
        )
        .await
    }

    /// Earns exactly `points` for `member` (hotel: 10 points per EUR, so 10 cents a point).
    pub async fn fund(&self, member: Uuid, booking_ref: &str, points: i64) -> Response {
        let res = self
            .post(
                &format!("/v1/members/{member}/earn"),
                json!({"source": "hotel-bookings", "booking_ref": booking_ref, "product": "hotel",
                       "spend": {"amount_minor": points * 10, "currency": "EUR"}}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        assert_eq!(res.body["points"], points);
        res
    }

    /// Earns for Alice a small hotel booking (100 base points); returns the earn's body.
    pub async fn fund_with_bonus(&self, i: usize) -> Value {
        let res = self
            .post(
                &format!("/v1/members/{ALICE}/earn"),
                json!({"source": "hotel-bookings", "booking_ref": format!("BONUS-{i}"), "product": "hotel",
                       "spend": {"amount_minor": 1_000, "currency": "EUR"}}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.body);
        res.body
    }

    pub async fn balance(&self, member: Uuid) -> Value {
        let res = self.get(&format!("/v1/members/{member}/balance")).await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.body);
        res.body
    }

    pub async fn assert_audit_clean(&self) {
        let res = self.get("/v1/admin/audit").await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(res.body["mismatch_count"], 0, "audit: {:#}", res.body);
    }

    /// Writes a campaign row the way the operator does (spec, bumped set version, one
    /// transaction) and waits until this instance evaluates that version.
    pub async fn publish_campaign(&self, name: &str, spec: Value) {
        let mut sql = self.sql().await;
        let tx = sql.transaction().await.unwrap();
        let version: i64 = tx
            .query_one(
                "INSERT INTO config_versions (name, version) VALUES ('campaigns', 1) \
                 ON CONFLICT (name) DO UPDATE SET version = config_versions.version + 1 RETURNING version",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        tx.execute(
            "INSERT INTO campaigns (namespace, name, spec, generation, active, version, updated_at) \
             VALUES ('marketing', $1, $2, 1, true, $3, now()) \
             ON CONFLICT (namespace, name) DO UPDATE SET spec = excluded.spec, version = excluded.version",
            &[&name, &spec, &version],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        for _ in 0..200 {
            if self.get("/readyz").await.body["campaigns_version"] == version {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("campaign version {version} never became live");
    }

    pub async fn sql(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.db_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
    }

    /// Row counts of every table plus the balance sums: equal before and after a refused
    /// request proves it wrote nothing.
    pub async fn footprint(&self) -> Vec<i64> {
        let client = self.sql().await;
        let mut out = Vec::new();
        for table in [
            "members",
            "balances",
            "ledger_entries",
            "lots",
            "holds",
            "earns",
            "idempotency_keys",
            "tier_history",
        ] {
            let row = client
                .query_one(&format!("SELECT COUNT(*)::BIGINT FROM {table}"), &[])
                .await
                .unwrap();
            out.push(row.get(0));
        }
        let row = client
            .query_one(
                "SELECT (SELECT COALESCE(SUM(available), 0)::BIGINT FROM balances), \
                        (SELECT COALESCE(SUM(held), 0)::BIGINT FROM balances), \
                        (SELECT COALESCE(SUM(lifetime), 0)::BIGINT FROM balances), \
                        (SELECT COALESCE(SUM(remaining), 0)::BIGINT FROM lots), \
                        (SELECT COALESCE(SUM(pending), 0)::BIGINT FROM balances), \
                        (SELECT COALESCE(SUM(qualifying), 0)::BIGINT FROM balances), \
                        (SELECT COUNT(*)::BIGINT FROM holds WHERE state = 'active'), \
                        (SELECT COUNT(*)::BIGINT FROM lots WHERE vests_at IS NOT NULL), \
                        (SELECT COALESCE(SUM(qualifying), 0)::BIGINT FROM lots), \
                        (SELECT COUNT(*)::BIGINT FROM members WHERE tier_below_since IS NOT NULL)",
                &[],
            )
            .await
            .unwrap();
        out.extend((0..row.len()).map(|i| row.get::<_, i64>(i)));
        out
    }

    /// Moves `region` to `state` the way the operator does: state, epoch + 1 and served_by in
    /// its row, and the matching `region_transitions` row, in one SERIALIZABLE transaction.
    /// Returns the new epoch.
    pub async fn transition(
        &self,
        region: &str,
        state: &str,
        served_by: &str,
        reason: &str,
    ) -> i64 {
        let mut sql = self.sql().await;
        let tx = sql
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::Serializable)
            .start()
            .await
            .unwrap();
        let epoch: i64 = tx
            .query_one(
                "UPDATE regions SET state = $2, epoch = epoch + 1, served_by = $3, updated_at = now() \
                 WHERE name = $1 RETURNING epoch",
                &[&region, &state, &served_by],
            )
            .await
            .unwrap()
            .get(0);
        tx.execute(
            "INSERT INTO region_transitions (region, epoch, state, served_by, reason) VALUES ($1, $2, $3, $4, $5)",
            &[&region, &epoch, &state, &served_by, &reason],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        epoch
    }
}
