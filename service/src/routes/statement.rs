//! `GET /v1/members/{member_id}/statement?from=&to=&format=`: opening balance, the period's
//! entries with their reasons, closing balance; JSON or CSV.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::PeriodReadRefusals;
use super::{ApiError, ApiPath, ApiQuery, AppState, MemberPath};
use crate::store::statement::{Statement, Totals};

/// The longest period one statement covers.
const MAX_PERIOD_DAYS: i64 = 400;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(statement))
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
enum Format {
    Json,
    Csv,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct StatementParams {
    /// The period's start, inclusive (RFC 3339).
    from: DateTime<Utc>,
    /// The period's end, exclusive (RFC 3339); at most 400 days after `from`.
    to: DateTime<Utc>,
    /// `json` (default) or `csv`.
    #[param(inline)]
    format: Option<Format>,
}

/// A member's statement for a period.
#[utoipa::path(get, path = "/v1/members/{member_id}/statement", tag = "members",
    params(MemberPath, StatementParams),
    responses((status = 200, description = "the statement",
        content((Statement = "application/json"), (String = "text/csv"))), PeriodReadRefusals))]
#[tracing::instrument(skip(app, params))]
async fn statement(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
    ApiQuery(params): ApiQuery<StatementParams>,
) -> Result<Response, ApiError> {
    if params.to <= params.from || params.to - params.from > Duration::days(MAX_PERIOD_DAYS) {
        return Err(ApiError::unprocessable(
            "invalid_period",
            format!("to must be after from, by at most {MAX_PERIOD_DAYS} days"),
        )
        .with_field("to"));
    }
    let statement = app
        .db
        .statement(app.region(), member_id, params.from, params.to)
        .await?;
    Ok(match params.format.unwrap_or(Format::Json) {
        Format::Json => Json(statement).into_response(),
        Format::Csv => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&statement)?,
        )
            .into_response(),
    })
}

/// One row per line, between an `opening` and a `closing` row whose amounts are balances.
fn to_csv(s: &Statement) -> Result<String, ApiError> {
    let failed = |e: csv::Error| {
        ApiError::from(crate::error::Error::Invariant(format!(
            "statement CSV: {e}"
        )))
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let total_row = |row: &str, at: DateTime<Utc>, t: Totals| {
        let amounts = [t.available, t.pending, t.held].map(|v| v.to_string());
        let mut fields = vec![row.to_owned(), String::new(), at.to_rfc3339()];
        fields.extend([String::new(), String::new(), String::new(), String::new()]);
        fields.extend(amounts);
        fields
    };
    let header = [
        "row",
        "seq",
        "at",
        "kind",
        "reason",
        "source",
        "reference",
        "available",
        "pending",
        "held",
    ];
    w.write_record(header).map_err(failed)?;
    w.write_record(total_row("opening", s.from, s.opening))
        .map_err(failed)?;
    for l in &s.lines {
        w.write_record([
            "entry".to_owned(),
            l.seq.to_string(),
            l.at.to_rfc3339(),
            l.kind.clone(),
            l.reason.clone(),
            l.source.clone().unwrap_or_default(),
            l.reference.clone().unwrap_or_default(),
            l.available.to_string(),
            l.pending.to_string(),
            l.held.to_string(),
        ])
        .map_err(failed)?;
    }
    w.write_record(total_row("closing", s.to, s.closing))
        .map_err(failed)?;
    let bytes = w.into_inner().map_err(|e| failed(e.into_error().into()))?;
    String::from_utf8(bytes)
        .map_err(|e| ApiError::from(crate::error::Error::Invariant(e.to_string())))
}
