//! Small HTTP helpers shared by the surfaces (management API, PassKit, holder pages): HTTP
//! dates, the pass media type, and a response body that sends a `.pkpass` as its two parts
//! without joining them first.
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// Media type of a signed pass.
pub const PKPASS_TYPE: &str = "application/vnd.apple.pkpass";

/// Unix seconds as an HTTP date.
pub fn http_date(secs: i64) -> String {
    let secs = u64::try_from(secs).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

/// An HTTP date as Unix seconds (`None` if it doesn't parse).
pub fn parse_http_date(text: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(text).ok()?;
    let d = t.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(d.as_secs()).ok()
}

/// A body of a few ready chunks with an exact length (so `Content-Length` is set): a pass is
/// the template's shared block (often ~1 MB) then its own few KB, and copying the block into one
/// buffer per response would cost more than the rest of serving it.
struct Chunks {
    chunks: Vec<Bytes>,
    remaining: u64,
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.chunks.is_empty() {
            return Poll::Ready(None);
        }
        let chunk = self.chunks.remove(0);
        self.remaining -= chunk.len() as u64;
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// The response body of a signed pass.
pub fn pass_body(bytes: pkpass::PassBytes) -> Body {
    let chunks: Vec<Bytes> = [bytes.head, bytes.tail]
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let remaining = chunks.iter().map(|c| c.len() as u64).sum();
    Body::new(Chunks { chunks, remaining })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_round_trip_whole_seconds() {
        let text = http_date(1_700_000_000);
        assert_eq!(text, "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(parse_http_date(&text), Some(1_700_000_000));
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[tokio::test]
    async fn a_pass_body_sends_both_parts_with_their_exact_length() {
        let body = pass_body(pkpass::PassBytes {
            head: Bytes::from_static(b"head-"),
            tail: Bytes::from_static(b"tail"),
        });
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(9));
        let collected = axum::body::to_bytes(body, 100).await.unwrap();
        assert_eq!(&collected[..], b"head-tail");
    }
}
