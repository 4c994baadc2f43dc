//! Request contracts: single reconciles against a mocked API server that expects exact
//! requests (method, path, query, content type, body fields), answering each in turn.

use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::reflector;
use loyalty_crds::campaign::Campaign;
use loyalty_crds::partner::Partner;
use loyalty_operator::Error;
use loyalty_operator::controller::{Context, Settings, campaign, partner};
use loyalty_operator::db::Db;
use loyalty_operator::metrics::Metrics;
use loyalty_operator::placement::postgres::PostgresBackend;
use serde_json::{Value, json};
use tower_test::mock::{Handle, SendResponse};

use crate::campaign::{config_version, row};
use crate::helpers::{fresh_database, sql};

type ApiHandle = Handle<Request<Body>, Response<Body>>;
const STEP: Duration = Duration::from_secs(5);

struct Mock {
    handle: ApiHandle,
    ctx: Arc<Context>,
    db_url: String,
}

async fn mock() -> Mock {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let db_url = fresh_database().await;
    let metrics = Metrics::new();
    let ctx = Context::new(
        client,
        Db::connect(&db_url, metrics.clone()).unwrap(),
        Arc::new(PostgresBackend),
        metrics,
        Settings::default(),
        reflector::store::<Campaign>().0,
        reflector::store().0,
    );
    Mock {
        handle,
        ctx: Arc::new(ctx),
        db_url,
    }
}

/// The next request, which must have `method` and `path`; returns its query, content type,
/// JSON body and the responder.
async fn expect(
    handle: &mut ApiHandle,
    method: Method,
    path: &str,
) -> (String, String, Value, SendResponse<Response<Body>>) {
    let (req, send) = tokio::time::timeout(STEP, handle.next_request())
        .await
        .unwrap_or_else(|_| panic!("no {method} {path} within {STEP:?}"))
        .expect("the client is gone");
    assert_eq!((req.method(), req.uri().path()), (&method, path));
    let query = req.uri().query().unwrap_or("").to_owned();
    let content_type = req
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let bytes = req.into_body().collect_bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (query, content_type, body, send)
}

fn respond(send: SendResponse<Response<Body>>, status: u16, body: &Value) {
    let response = Response::builder()
        .status(status)
        .body(Body::from(serde_json::to_vec(body).unwrap()))
        .unwrap();
    send.send_response(response);
}

async fn no_more_requests(handle: &mut ApiHandle) {
    // Either nothing arrives, or the client is already gone (None): no request either way.
    let next = tokio::time::timeout(Duration::from_millis(200), handle.next_request()).await;
    if let Ok(Some((req, _))) = next {
        panic!(
            "an unexpected further request: {} {}",
            req.method(),
            req.uri()
        );
    }
}

fn stored_campaign(spec_extra: Value, finalizers: &[&str]) -> Campaign {
    let mut c = crate::campaign::campaign("c1", spec_extra);
    c.metadata.namespace = Some("marketing-eu".into());
    c.metadata.uid = Some("4b0c0a1e-0000-4000-8000-000000000001".into());
    c.metadata.generation = Some(3);
    c.metadata.resource_version = Some("42".into());
    c.metadata.finalizers = Some(finalizers.iter().map(|f| (*f).to_owned()).collect());
    c
}

const CAMPAIGN_PATH: &str =
    "/apis/loyalty.travel.example/v1alpha1/namespaces/marketing-eu/campaigns/c1";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/marketing-eu/events";

#[tokio::test]
async fn a_campaign_reconcile_adds_the_finalizer_first_and_writes_nothing_else() {
    let Mock {
        mut handle,
        ctx,
        db_url,
    } = mock().await;
    let c = stored_campaign(json!({}), &[]);
    let reconcile = tokio::spawn(campaign::reconcile(Arc::new(c.clone()), ctx));

    let (_, content_type, body, send) = expect(&mut handle, Method::PATCH, CAMPAIGN_PATH).await;
    assert_eq!(content_type, "application/json-patch+json");
    assert_eq!(
        body,
        json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["loyalty.travel.example/campaign-cleanup"]}
        ])
    );
    let with_finalizer = stored_campaign(json!({}), &["loyalty.travel.example/campaign-cleanup"]);
    respond(send, 200, &serde_json::to_value(&with_finalizer).unwrap());

    let action = tokio::time::timeout(STEP, reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(action, Action::await_change());
    no_more_requests(&mut handle).await;
    let db = sql(&db_url).await;
    assert_eq!(row(&db, "c1").await, None);
}

#[tokio::test]
async fn a_valid_campaign_gets_phase_active_and_its_generation_observed_by_server_side_apply() {
    let Mock {
        mut handle,
        ctx,
        db_url,
    } = mock().await;
    let c = stored_campaign(json!({}), &["loyalty.travel.example/campaign-cleanup"]);
    let reconcile = tokio::spawn(campaign::reconcile(Arc::new(c.clone()), ctx));

    let (query, content_type, body, send) = expect(
        &mut handle,
        Method::PATCH,
        &format!("{CAMPAIGN_PATH}/status"),
    )
    .await;
    assert_eq!(content_type, "application/apply-patch+yaml");
    assert!(
        query.contains("fieldManager=loyalty-operator") && query.contains("force=true"),
        "{query}"
    );
    assert_eq!(body["apiVersion"], "loyalty.travel.example/v1alpha1");
    assert_eq!(body["kind"], "Campaign");
    assert_eq!(body["status"]["phase"], "Active");
    assert_eq!(body["status"]["observedGeneration"], 3);
    let ready = body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "True");
    let mut stored = serde_json::to_value(&c).unwrap();
    stored["status"] = body["status"].clone();
    respond(send, 200, &stored);

    let (_, _, event, send) = expect(&mut handle, Method::POST, EVENTS_PATH).await;
    assert_eq!(
        (event["reason"].as_str(), event["type"].as_str()),
        (Some("Active"), Some("Normal"))
    );
    assert_eq!(event["regarding"]["name"], "c1");
    assert_eq!(event["reportingController"], "loyalty-operator");
    respond(send, 201, &event);

    let action = tokio::time::timeout(STEP, reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        action,
        Action::requeue(campaign::MAX_REQUEUE),
        "the next transition is more than an hour away"
    );
    no_more_requests(&mut handle).await;
    let db = sql(&db_url).await;
    let (_, generation, active, version) = row(&db, "c1").await.expect("published");
    assert_eq!((generation, active), (3, true));
    assert_eq!(body["status"]["dbVersion"], version);
}

#[tokio::test]
async fn an_invalid_campaign_gets_phase_invalid_with_a_warning_and_no_database_write() {
    let Mock {
        mut handle,
        ctx,
        db_url,
    } = mock().await;
    let c = stored_campaign(
        json!({"window": {"timezone": "Europe/Atlantis"}}),
        &["loyalty.travel.example/campaign-cleanup"],
    );
    let reconcile = tokio::spawn(campaign::reconcile(Arc::new(c.clone()), ctx));

    let (_, _, body, send) = expect(
        &mut handle,
        Method::PATCH,
        &format!("{CAMPAIGN_PATH}/status"),
    )
    .await;
    assert_eq!(body["status"]["phase"], "Invalid");
    assert!(
        body["status"]["reason"]
            .as_str()
            .unwrap()
            .contains("spec.window.timezone")
    );
    assert!(body["status"].get("dbVersion").is_none());
    respond(send, 200, &serde_json::to_value(&c).unwrap());
    let (_, _, event, send) = expect(&mut handle, Method::POST, EVENTS_PATH).await;
    assert_eq!(
        (event["reason"].as_str(), event["type"].as_str()),
        (Some("Invalid"), Some("Warning"))
    );
    respond(send, 201, &event);

    tokio::time::timeout(STEP, reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    no_more_requests(&mut handle).await;
    let db = sql(&db_url).await;
    assert_eq!(row(&db, "c1").await, None);
    assert_eq!(config_version(&db, "campaigns").await, None);
}

#[tokio::test]
async fn a_partner_whose_secret_is_missing_reports_error_and_backs_off_exponentially() {
    let Mock {
        mut handle,
        ctx,
        db_url,
    } = mock().await;
    let mut p: Partner = crate::helpers::yaml("manifests/examples/partners/air-france.yaml");
    p.metadata.namespace = Some("loyalty-partners".into());
    p.metadata.uid = Some("4b0c0a1e-0000-4000-8000-000000000002".into());
    p.metadata.generation = Some(1);
    p.metadata.finalizers = Some(vec![partner::FINALIZER.into()]);
    let reconcile = tokio::spawn(partner::reconcile(Arc::new(p.clone()), ctx.clone()));

    let (_, _, _, send) = expect(
        &mut handle,
        Method::GET,
        "/api/v1/namespaces/loyalty-partners/secrets/air-france-credentials",
    )
    .await;
    respond(
        send,
        404,
        &json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
        "message": "secrets \"air-france-credentials\" not found"}),
    );
    let path = "/apis/loyalty.travel.example/v1alpha1/namespaces/loyalty-partners/partners/air-france/status";
    let (_, _, body, send) = expect(&mut handle, Method::PATCH, path).await;
    assert_eq!(body["status"]["phase"], "Error");
    assert_eq!(body["status"]["credentialsResolved"], false);
    let resolved = body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "CredentialsResolved")
        .unwrap();
    assert_eq!(resolved["reason"], "SecretNotFound");
    respond(send, 200, &serde_json::to_value(&p).unwrap());
    let (_, _, event, send) = expect(
        &mut handle,
        Method::POST,
        "/apis/events.k8s.io/v1/namespaces/loyalty-partners/events",
    )
    .await;
    assert_eq!(event["reason"], "SecretNotFound");
    respond(send, 201, &event);

    let err = tokio::time::timeout(STEP, reconcile)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::CredentialsUnresolved(_)), "{err}");
    let obj = Arc::new(p);
    let delays: Vec<Action> = (0..3)
        .map(|_| partner::error_policy(obj.clone(), &err, ctx.clone()))
        .collect();
    assert_eq!(
        delays,
        [1, 2, 4].map(|s| Action::requeue(Duration::from_secs(s)))
    );
    assert!(ctx.metrics.render().contains("loyalty_operator_reconcile_failures_total{controller=\"partner\",error=\"credentials_unresolved\"} 3"));
    let db = sql(&db_url).await;
    assert_eq!(
        db.query("SELECT 1 FROM partners", &[]).await.unwrap().len(),
        0
    );
}
