//! `limit` and `cursor` query parameters, shared by every list.
use serde::Deserialize;

use super::error::{ApiError, Detail};
use crate::domain::crypto::MasterKey;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;

/// The raw query; parsed by hand so every bad value gets the API's 400, not axum's.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1–1000, default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// `nextCursor` from the previous page.
    pub cursor: Option<String>,
}

/// A checked page request: how many, and after which position.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub limit: i64,
    pub position: Option<i64>,
}

impl Page {
    /// How many rows to fetch: one more than the page, to tell whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts `records` (fetched with [`Self::fetch`]) to the page and returns the next page's
    /// cursor, present exactly when more rows follow.
    pub fn next_cursor<R>(
        &self,
        records: &mut Vec<R>,
        seq: impl Fn(&R) -> i64,
        key: &MasterKey,
        scope: &str,
    ) -> Option<String> {
        let more = records.len() as i64 > self.limit;
        records.truncate(usize::try_from(self.limit).unwrap_or(0));
        more.then(|| records.last())
            .flatten()
            .map(|last| key.encode_cursor(scope, seq(last)))
    }
}

impl PageQuery {
    /// Checks `limit` and the cursor (made for list `scope` under this master key).
    pub fn parse(&self, key: &MasterKey, scope: &str) -> Result<Page, ApiError> {
        let mut details = Vec::new();
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => {
                    details.push(Detail::query(
                        "limit",
                        format!("must be an integer from 1 to {MAX_LIMIT}"),
                        text,
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        let position = match self.cursor.as_deref() {
            None => None,
            Some(text) => {
                let decoded = key.decode_cursor(scope, text);
                if decoded.is_none() {
                    details.push(Detail::query("cursor", "is not a valid cursor", text));
                }
                decoded
            }
        };
        if details.is_empty() {
            Ok(Page { limit, position })
        } else {
            Err(ApiError::bad_request("invalid query parameters", details))
        }
    }
}
