//! Building and running the application: pool, migrations, programme cache, background jobs,
//! middleware, and the HTTP server with graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::auth::Auth;
use crate::auth::middleware::authorize;
use crate::config::Config;
use crate::delivery::Dispatcher;
use crate::domain::Actor;
use crate::metrics::Metrics;
use crate::partners::PartnerDirectory;
use crate::routes::ApiError;
use crate::routes::{AppState, MAX_BODY_BYTES, Shared, router};
use crate::store::rank_bands::Rebuilt;
use crate::store::sweeps::SweepLimits;
use crate::store::{Db, ProgrammeCache, migrate};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A bound, not yet serving, application.
pub struct Application {
    listener: TcpListener,
    router: Router,
    pub state: AppState,
}

impl Application {
    /// Connects to `database_url`, migrates, loads the programme, starts the background jobs and
    /// binds `config.listen`.
    pub async fn build(config: Config, database_url: &str) -> anyhow::Result<Self> {
        let metrics = Metrics::new();
        let pool_wait = Duration::from_millis(config.database.pool_wait_ms);
        let db = Db::connect(database_url, config.database.pool_size, pool_wait, metrics)?;
        let (keyring, digest_keys) = crate::crypto::files::service_keys(&config.crypto)?;
        let db = chaos_hooks(db, &config)
            .with_keys(Some(keyring), digest_keys)
            .with_read_connections(config.database.read_connections);
        {
            let client = db.conn().await?;
            migrate::run(&client).await?;
        }
        let programme = ProgrammeCache::default();
        programme.poll(&*db.conn().await?).await?;
        let partners = PartnerDirectory::default();
        partners
            .poll(&*db.conn().await?, &config.partners.secrets_dir)
            .await?;
        let auth = Auth::from_config(&config.auth, &config.limits).await?;
        let state = AppState::from(Shared {
            db,
            programme,
            partners,
            config: Arc::new(config),
            auth: Arc::new(auth),
        });
        // Built before any job starts, so that a bad `delivery.ca_file` stops the start cleanly.
        let dispatcher = Dispatcher::new(
            state.db.acting_as(Actor::job("delivery")),
            state.partners.clone(),
            state.config.region.clone(),
            state.config.delivery.clone(),
        )?;
        spawn_jobs(&state);
        dispatcher.spawn();
        let listener = TcpListener::bind(state.config.listen).await?;
        let router = app(state.clone());
        Ok(Self {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        crate::server::serve(
            self.listener,
            self.router,
            &self.state.config.http,
            shutdown,
        )
        .await
    }
}

/// The `chaos-hooks` build's switches, applied loudly: an instance that writes through its
/// region's fence must never be mistaken for a healthy one.
#[cfg(feature = "chaos-hooks")]
fn chaos_hooks(db: Db, config: &Config) -> Db {
    if !config.chaos.skip_fence_check {
        return db;
    }
    tracing::warn!(
        region = %config.region,
        "CHAOS HOOK ON: chaos.skip_fence_check is set, so this instance COMMITS WRITES EVEN WHEN \
         ITS REGION IS FENCED. This is a test-only build; never run it in production."
    );
    db.skipping_fence_check()
}

/// Without the `chaos-hooks` feature there is nothing to switch: the fence is always checked.
#[cfg(not(feature = "chaos-hooks"))]
fn chaos_hooks(db: Db, _config: &Config) -> Db {
    db
}

/// The router with every middleware layer.
pub fn app(state: AppState) -> Router {
    router()
        .fallback(|| async { ApiError::not_found("route_not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "method not allowed on this route")
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), deadline))
        .layer(middleware::from_fn_with_state(state.clone(), record_metrics))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let request_id = req.headers().get(&REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Answers 408 when a request (its body read included) takes longer than
/// `http.request_timeout_ms`. A write cut short this way is rolled back or committed whole;
/// the caller retries with its Idempotency-Key either way.
async fn deadline(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let limit = Duration::from_millis(app.config.http.request_timeout_ms);
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} ms", limit.as_millis()),
        )
        .into_response(),
    }
}

async fn record_metrics(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let metrics = app.db.metrics();
    metrics
        .http_requests
        .with_label_values(&[method.as_str(), route.as_str(), response.status().as_str()])
        .inc();
    metrics
        .http_latency
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The configuration poll and the sweeps, each on its own interval; failures are logged and
/// the next tick tries again. Every sweep is safe to run on several replicas at once.
fn spawn_jobs(state: &AppState) {
    spawn_auth_upkeep(state);
    let poll = Duration::from_millis(state.config.ledger.config_poll_ms.max(100));
    let app = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = poll_config(&app).await {
                tracing::warn!(error = %e, "configuration poll failed");
            }
        }
    });
    spawn_digests(state);
    spawn_rank_bands(state);
    let interval_ms = state.config.jobs.interval_ms;
    if interval_ms == 0 {
        return;
    }
    let app = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
        loop {
            tick.tick().await;
            let ladder = app.programme.snapshot().tiers.clone();
            match app
                .db
                .acting_as(Actor::job("sweeps"))
                .run_sweeps(app.region(), SweepLimits::from_config(&app.config), &ladder)
                .await
            {
                Ok(report) if report.is_empty() => {}
                Ok(report) => tracing::info!(?report, "sweeps"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            }
        }
    });
}

/// Signs a digest of the chain heads this region serves every `crypto.digest_interval_s`
/// (the first one interval after start).
fn spawn_digests(state: &AppState) {
    let interval_s = state.config.crypto.digest_interval_s;
    if interval_s == 0 {
        return;
    }
    let app = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval_s));
        tick.tick().await;
        loop {
            tick.tick().await;
            match app.db.sign_chain_digest(app.region()).await {
                Ok(digest) => {
                    tracing::info!(id = %digest.id, members = digest.members, "chain digest signed")
                }
                Err(e) => tracing::warn!(error = %e, "chain digest failed"),
            }
        }
    });
}

/// Rebuilds the rank bands of this region's residency group every
/// `leaderboard.bands_interval_s`, the first time at start. Safe on several replicas and in
/// several regions of a group: a build younger than half the interval is not redone, and a
/// build never replaces a newer one (`store::rank_bands`).
fn spawn_rank_bands(state: &AppState) {
    let interval_s = state.config.leaderboard.bands_interval_s;
    if interval_s == 0 {
        return;
    }
    let app = state.clone();
    let min_age = chrono::Duration::milliseconds(
        i64::try_from(interval_s.saturating_mul(500)).unwrap_or(i64::MAX),
    );
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval_s));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = Instant::now();
            match app
                .db
                .acting_as(Actor::job("rank_bands"))
                .rebuild_rank_bands(app.region(), app.config.leaderboard.band_size, min_age)
                .await
            {
                Ok(Rebuilt::Built {
                    residency_group,
                    boundaries,
                    ..
                }) => tracing::info!(
                    %residency_group,
                    boundaries,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "rank bands rebuilt"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "rank bands rebuild failed"),
            }
        }
    });
}

/// Reloads the programme and the partners (rows and mounted secrets).
async fn poll_config(app: &AppState) -> crate::error::Result<()> {
    let client = app.db.conn().await?;
    app.programme.poll(&client).await?;
    app.partners
        .poll(&client, &app.config.partners.secrets_dir)
        .await
}

/// Re-reads the identity provider's key set on its interval (key rotation), and forgets
/// rate-limit state of idle callers once a minute.
fn spawn_auth_upkeep(state: &AppState) {
    let app = state.clone();
    let refresh = Duration::from_secs(state.config.auth.jwks_refresh_s);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(refresh);
        tick.tick().await;
        loop {
            tick.tick().await;
            app.auth.verifier.keys().refresh().await;
        }
    });
    let app = state.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            app.auth.limits.forget_idle();
        }
    });
}
