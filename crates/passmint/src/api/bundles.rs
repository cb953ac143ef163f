//! Bundles (SPEC 9): 1–10 passes behind one link (Apple's `.pkpasses`, for a family's
//! tickets). A deleted pass drops out of its bundles.
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::templates::rfc3339_millis;
use super::{audit, path_id, recorded};
use crate::app::{AppState, RequestId};
use crate::domain::Operation;
use crate::store::BundleRecord;

/// Largest body of `POST B/bundles` (ten ids fit in far less).
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// Body of `POST B/bundles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateBundle {
    /// 1–10 distinct pass ids.
    #[schema(min_items = 1, max_items = 10)]
    pub pass_ids: Vec<String>,
}

/// A bundle as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BundleJson {
    #[schema(format = "uuid")]
    pub id: String,
    /// The passes still in the bundle, in the order given (deleted passes drop out).
    pub pass_ids: Vec<String>,
    /// The bundle page (`PUBLIC_URL/b/<bundleToken>`).
    #[schema(format = "uri")]
    pub share_url: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

fn to_json(state: &AppState, b: BundleRecord) -> BundleJson {
    BundleJson {
        share_url: format!("{}/b/{}", state.public_url, b.token),
        id: b.id,
        pass_ids: b.pass_ids,
        created_at: rfc3339_millis(b.created_at),
    }
}

fn bundle_id(raw: &str) -> Result<String, ApiError> {
    path_id(raw, |t| {
        uuid::Uuid::parse_str(t).ok().map(|u| u.hyphenated().to_string())
    })
}

/// Bundle passes behind one link.
#[utoipa::path(
    operation_id = "createBundle",
    post,
    path = "/v2/credentials/compact/digital-pass/apple/bundles",
    tag = "passes",
    request_body(content = CreateBundle, content_type = "application/json"),
    responses(
        (status = 201, description = "The bundle, with its shareUrl", body = BundleJson),
        (status = 400, description = "Not 1–10 ids, an id repeated, or an id naming no pass (named passIds[i])", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 413, description = "Body larger than 16 KiB", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn create(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let audit = audit(Operation::BUNDLE_CREATE, &request_id);
    let result = async {
        let body: CreateBundle = state.schemas.parse("CreateBundle", body, MAX_BODY_BYTES)?;
        let bundle = state.domain.create_bundle(&body.pass_ids).await?;
        Ok(to_json(&state, bundle))
    }
    .await;
    let bundle = recorded(
        &state,
        &audit,
        result,
        |b| json!({ "bundleId": b.id, "count": b.pass_ids.len() }),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(bundle)).into_response())
}

/// Retrieve a bundle.
#[utoipa::path(
    operation_id = "getBundle",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/bundles/{bundleId}",
    tag = "passes",
    params(("bundleId" = String, Path, format = "uuid", description = "Bundle id")),
    responses(
        (status = 200, description = "The bundle", body = BundleJson),
        (status = 400, description = "bundleId is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such bundle", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn retrieve(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<Json<BundleJson>, ApiError> {
    let audit = audit(Operation::BUNDLE_RETRIEVE, &request_id);
    let result = async {
        let id = bundle_id(&raw_id)?;
        Ok(to_json(&state, state.domain.bundle(&id).await?))
    }
    .await;
    let bundle = recorded(&state, &audit, result, |b| json!({ "bundleId": b.id })).await?;
    Ok(Json(bundle))
}

/// Delete a bundle (its passes stay).
#[utoipa::path(
    operation_id = "deleteBundle",
    delete,
    path = "/v2/credentials/compact/digital-pass/apple/bundles/{bundleId}",
    tag = "passes",
    params(("bundleId" = String, Path, format = "uuid", description = "Bundle id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "bundleId is not a UUID", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such bundle", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn delete(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let audit = audit(Operation::BUNDLE_DELETE, &request_id);
    let result = async {
        let id = bundle_id(&raw_id)?;
        state.domain.delete_bundle(&id).await?;
        Ok(id)
    }
    .await;
    recorded(&state, &audit, result, |id| json!({ "bundleId": id })).await?;
    Ok(StatusCode::NO_CONTENT)
}
