//! `GET /v2/events`: recorded events, newest first.
use axum::Json;
use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};

use super::auth::Admin;
use super::error::{ApiError, ErrorBody};
use super::pagination::PageQuery;
use super::templates::rfc3339_millis;
use crate::app::AppState;
use crate::store::EventRecord;

const CURSOR_SCOPE: &str = "events";
const DEVICE_CURSOR_SCOPE: &str = "device-records";

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this type (e.g. `CREDENTIAL_COMPACT_APPLE_PASS_TEMPLATE_CREATE_SUCCESS`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub event_type: Option<String>,
    /// 1–1000, default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventJson {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub category: String,
    /// RFC 3339.
    pub timestamp: String,
    /// The `x-request-id` of the request that caused it.
    pub request_id: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// How many times it happened: device-side records (`PASSKIT_…`, `APNS_…`) aggregate
    /// repeats of one failure or message; `timestamp` is then the latest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// RFC 3339: when an aggregated device-side record first happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    pub data: Vec<EventJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

fn to_json(e: &EventRecord) -> EventJson {
    EventJson {
        id: e.id.clone(),
        event_type: e.event_type.clone(),
        category: e.category.clone(),
        timestamp: rfc3339_millis(e.timestamp),
        request_id: e.request_id.clone(),
        data: serde_json::from_str(&e.data).unwrap_or_else(|error| {
            tracing::error!(event_id = %e.id, %error, "stored event data is not JSON");
            serde_json::Value::Null
        }),
        count: crate::store::is_device_side(&e.event_type).then_some(e.count),
        first_seen: crate::store::is_device_side(&e.event_type).then(|| rfc3339_millis(e.first_seen)),
    }
}

/// List events, newest first: the management audit trail, or with a device-side `type`
/// (`PASSKIT_…`, `APNS_…`) the device records, which are kept and capped apart.
#[utoipa::path(
    operation_id = "listEvents",
    get,
    path = "/v2/events",
    tag = "events",
    params(EventQuery),
    responses(
        (status = 200, description = "A page of events", body = EventList),
        (status = 400, description = "Bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<EventList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
    let event_type = query.event_type.as_deref().filter(|t| !t.is_empty());
    // The two tables number their rows apart: a cursor of one is refused by the other.
    let scope = if event_type.is_some_and(crate::store::is_device_side) {
        DEVICE_CURSOR_SCOPE
    } else {
        CURSOR_SCOPE
    };
    let page = PageQuery {
        limit: query.limit.clone(),
        cursor: query.cursor.clone(),
    }
    .parse(state.domain.master_key(), scope)?;
    let mut records = state
        .domain
        .list_events(event_type, page.position, page.fetch())
        .await?;
    let next_cursor = page.next_cursor(&mut records, |r| r.seq, state.domain.master_key(), scope);
    Ok(Json(EventList {
        data: records.iter().map(to_json).collect(),
        next_cursor,
    }))
}
