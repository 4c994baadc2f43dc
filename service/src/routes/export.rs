//! `GET /v1/members/{member_id}/export`: everything held about the member (docs/privacy.md),
//! streamed as one JSON document.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::MemberReadRefusals;
use super::{ApiError, ApiPath, AppState, MemberPath};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(export))
}

/// The document's shape, for the OpenAPI document: it is streamed section by section, never
/// built as one value.
struct ExportDocument;

impl PartialSchema for ExportDocument {
    fn schema() -> RefOr<Schema> {
        let object = || ObjectBuilder::new().schema_type(Type::Object);
        let rows = || ArrayBuilder::new().items(object());
        object()
            .property(
                "format",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["loyalty-export/1"])),
            )
            .property("member", Ref::from_schema_name("Member"))
            .property("balance", object())
            .property("tier_history", rows())
            .property("lots", rows())
            .property("holds", rows())
            .property("referrals", rows())
            .property("activities", rows())
            .property("identity_hints", object())
            .property(
                "ledger_entries",
                ArrayBuilder::new().items(Ref::from_schema_name("LedgerEntry")),
            )
            .required("format")
            .required("member")
            .into()
    }
}

impl ToSchema for ExportDocument {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Export")
    }
}

/// Everything held about a member: profile, balance, tier history, lots, holds, referrals,
/// activities and every ledger entry with its reason, from one snapshot. Streamed: a failure
/// after the first bytes ends the body early (the document is then not valid JSON).
#[utoipa::path(get, path = "/v1/members/{member_id}/export", tag = "members", params(MemberPath),
    responses((status = 200, description = "the member's data", body = ExportDocument, content_type = "application/json"),
        MemberReadRefusals))]
#[tracing::instrument(skip(app))]
async fn export(
    State(app): State<AppState>,
    ApiPath(MemberPath { member_id }): ApiPath<MemberPath>,
) -> Result<Response, ApiError> {
    let chunks = app.db.export(app.region(), member_id).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(chunks),
    )
        .into_response())
}
