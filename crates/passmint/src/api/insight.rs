//! Insight (SPEC 11): a pass's timeline and a template's statistics.
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::Admin;
use super::error::{ApiError, Detail, ErrorBody};
use super::pagination::PageQuery;
use super::templates::rfc3339_millis;
use super::{audit, path_id, recorded};
use crate::app::{AppState, RequestId};
use crate::domain::insight::{MAX_STATS_DAYS, parse_day};
use crate::domain::{Operation, PassId, TemplateId};

/// Cursor scope of timelines.
const CURSOR_SCOPE: &str = "timeline";
/// Days covered when `from` is not given.
const DEFAULT_DAYS: i64 = 30;

/// One thing that happened to a pass.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub at: String,
    /// `created`, `updated`, `voided`, `unvoided`, `downloaded`, `registered`,
    /// `reregistered`, `unregistered`, `installed`, `uninstalled`, `push`, `serials`,
    /// `fetched` or `log`.
    #[serde(rename = "type")]
    pub kind: String,
    /// What is known of it: the update tag, the device library id, APNs's status and
    /// reason, the HTTP status of a fetch, the log message…
    #[schema(value_type = Object)]
    pub detail: Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timeline {
    /// Newest first.
    pub data: Vec<TimelineEntry>,
    /// Present exactly when older entries follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_cursor: Option<String>,
}

/// A pass's timeline, newest first: what it went through and what its devices did.
#[utoipa::path(
    operation_id = "getPassTimeline",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/passes/{passId}/timeline",
    tag = "passes",
    params(("passId" = String, Path, format = "uuid", description = "Pass id"), PageQuery),
    responses(
        (status = 200, description = "A page of the pass's timeline (each pass keeps its latest entries, 200 by default)", body = Timeline),
        (status = 400, description = "passId is not a UUID, or a bad limit or cursor", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such pass", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn timeline(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<Timeline>, ApiError> {
    let audit = audit(Operation::PASS_TIMELINE_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, PassId::parse)?;
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let page = query.parse(state.domain.master_key(), CURSOR_SCOPE)?;
        let mut records = state.domain.timeline(&id, page.position, page.fetch()).await?;
        let next_cursor = page.next_cursor(&mut records, |r| r.seq, state.domain.master_key(), CURSOR_SCOPE);
        Ok::<_, ApiError>((
            id,
            Timeline {
                data: records
                    .into_iter()
                    .map(|r| TimelineEntry {
                        at: rfc3339_millis(r.at),
                        kind: r.kind,
                        detail: serde_json::from_str(&r.detail).unwrap_or_else(|_| json!({})),
                    })
                    .collect(),
                next_cursor,
            },
        ))
    }
    .await;
    let (_, body) = recorded(
        &state,
        &audit,
        result,
        |(id, t)| json!({ "passId": id.as_str(), "count": t.data.len() }),
    )
    .await?;
    Ok(Json(body))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 29 days before `to`).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last UTC day, `YYYY-MM-DD` (default: today). At most the last 366 days of the range are
    /// answered; `from` after `to` answers no days.
    #[param(format = Date)]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PushStats {
    pub sent: i64,
    /// Given up, or refused for good.
    pub failed: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayStats {
    /// `YYYY-MM-DD`, UTC.
    #[schema(format = Date)]
    pub date: String,
    pub issued: i64,
    /// New update tags (PATCH, rollout).
    pub updated: i64,
    /// Passes that got their first device.
    pub installed: i64,
    /// Passes that lost their last device.
    pub uninstalled: i64,
    /// `.pkpass` downloads (API, share link).
    pub downloads: i64,
}

/// A template's statistics (kept as counters: answering costs the same at a million passes).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TemplateStats {
    pub passes: i64,
    pub voided: i64,
    /// Passes with at least one registered device.
    pub installed: i64,
    /// Distinct devices holding a pass of the template.
    pub devices: i64,
    pub pushes: PushStats,
    /// Every day of the range, oldest first.
    pub daily: Vec<DayStats>,
}

/// A template's statistics: totals now, and per UTC day.
#[utoipa::path(
    operation_id = "getTemplateStats",
    get,
    path = "/v2/credentials/compact/digital-pass/apple/templates/{id}/stats",
    tag = "templates",
    params(("id" = String, Path, format = "uuid", description = "Template id"), StatsQuery),
    responses(
        (status = 200, description = "The template's statistics", body = TemplateStats),
        (status = 400, description = "id is not a UUID, or from/to is not a date", body = ErrorBody),
        (status = 401, description = "Missing or wrong token", body = ErrorBody),
        (status = 404, description = "No such template", body = ErrorBody),
    ),
    security(("bearerAuth" = []))
)]
pub async fn stats(
    State(state): State<AppState>,
    _admin: Admin,
    request_id: RequestId,
    Path(raw_id): Path<String>,
    query: Result<Query<StatsQuery>, QueryRejection>,
) -> Result<Json<TemplateStats>, ApiError> {
    let audit = audit(Operation::TEMPLATE_STATS_RETRIEVE, &request_id);
    let result = async {
        let id = path_id(&raw_id, TemplateId::parse)?;
        let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text(), Vec::new()))?;
        let (from, to) = stats_range(&query, time::OffsetDateTime::now_utc().date())?;
        let stats = state.domain.template_stats(&id, from, to).await?;
        Ok::<_, ApiError>((
            id,
            TemplateStats {
                passes: stats.totals.passes,
                voided: stats.totals.voided,
                installed: stats.totals.installed,
                devices: stats.totals.devices,
                pushes: PushStats {
                    sent: stats.totals.pushes_sent,
                    failed: stats.totals.pushes_failed,
                },
                daily: stats
                    .daily
                    .into_iter()
                    .map(|d| DayStats {
                        date: d.day,
                        issued: d.issued,
                        updated: d.updated,
                        installed: d.installed,
                        uninstalled: d.uninstalled,
                        downloads: d.downloads,
                    })
                    .collect(),
            },
        ))
    }
    .await;
    let (_, body) = recorded(
        &state,
        &audit,
        result,
        |(id, _)| json!({ "templateId": id.as_str() }),
    )
    .await?;
    Ok(Json(body))
}

/// The checked day range of a stats query, every problem at once.
pub fn stats_range(query: &StatsQuery, today: time::Date) -> Result<(time::Date, time::Date), ApiError> {
    let mut details = Vec::new();
    let mut day = |param: &str, raw: &Option<String>| -> Option<time::Date> {
        let text = raw.as_deref()?;
        let parsed = parse_day(text);
        if parsed.is_none() {
            details.push(Detail::query(param, "must be a date YYYY-MM-DD", text));
        }
        parsed
    };
    let to_given = day("to", &query.to);
    let from_given = day("from", &query.from);
    if !details.is_empty() {
        return Err(ApiError::bad_request("invalid query parameters", details));
    }
    let to = to_given.unwrap_or(today);
    let from = from_given.unwrap_or(to - time::Duration::days(DEFAULT_DAYS - 1));
    // At most the last 366 days of the range (a longer one is cut, not refused: any two dates
    // are a valid question, answered within the bound). `from` after `to` is an empty range.
    let earliest = to - time::Duration::days(MAX_STATS_DAYS - 1);
    Ok((from.max(earliest), to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::insight::day_text;

    fn query(from: Option<&str>, to: Option<&str>) -> StatsQuery {
        StatsQuery {
            from: from.map(str::to_string),
            to: to.map(str::to_string),
        }
    }

    #[test]
    fn stats_cover_the_last_thirty_days_by_default() {
        let today = parse_day("2026-12-04").unwrap();
        let (from, to) = stats_range(&query(None, None), today).unwrap();
        assert_eq!(
            (day_text(from).as_str(), day_text(to).as_str()),
            ("2026-11-05", "2026-12-04")
        );
    }

    #[test]
    fn a_date_that_is_not_one_is_a_400_naming_the_parameter() {
        let today = parse_day("2026-12-04").unwrap();
        let bad = stats_range(&query(Some("2026-13-01"), Some("soon")), today).unwrap_err();
        let params: Vec<&str> = bad.details.iter().map(|d| d.param.as_str()).collect();
        assert_eq!(params, ["to", "from"]);
    }

    #[test]
    fn a_long_range_keeps_its_last_366_days_and_a_reversed_one_is_empty() {
        let today = parse_day("2026-12-04").unwrap();
        let (from, to) = stats_range(&query(Some("2000-01-01"), Some("2026-01-02")), today).unwrap();
        assert_eq!(
            (day_text(from).as_str(), day_text(to).as_str()),
            ("2025-01-02", "2026-01-02")
        );
        let (from, to) = stats_range(&query(Some("2026-12-05"), Some("2026-12-01")), today).unwrap();
        assert!(from > to);
    }
}
