//! Answers far larger than any real one, for `SimConfig::huge_answers`: a successful answer's JSON
//! followed by whitespace, to a declared size or without end. A client that reads answers whole runs out
//! of memory on them; one that bounds what it reads refuses them.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_LENGTH;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, stream};

use super::{HugeAnswers, Shared};

/// One piece of the padding (whitespace after a JSON value leaves it valid JSON).
static SPACES: [u8; 64 * 1024] = [b' '; 64 * 1024];

/// Grows the `200` answers of the Org API and the System Log as configured; the token endpoint and the
/// simulator's record answer as usual.
pub(crate) async fn grow(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let exempt = path.starts_with("/oauth2/") || path.starts_with("/__simulator/");
    let resp = next.run(req).await;
    match s.config.huge_answers {
        Some(how) if !exempt && resp.status() == StatusCode::OK => padded(resp, how).await,
        _ => resp,
    }
}

async fn padded(resp: Response, how: HugeAnswers) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(json) = axum::body::to_bytes(body, 1 << 20).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let pad = stream::repeat(Bytes::from_static(&SPACES));
    let body = match how {
        HugeAnswers::Endless => {
            // Chunked, without end.
            parts.headers.remove(CONTENT_LENGTH);
            Body::from_stream(stream::iter([json]).chain(pad).map(Ok::<_, Infallible>))
        }
        HugeAnswers::Oversize(size) => {
            let left = size.saturating_sub(json.len() as u64);
            let piece = SPACES.len() as u64;
            parts
                .headers
                .insert(CONTENT_LENGTH, (json.len() as u64 + left).into());
            let last = Bytes::from_static(&SPACES[..(left % piece) as usize]);
            Body::from_stream(
                stream::iter([json])
                    .chain(pad.take((left / piece) as usize))
                    .chain(stream::iter([last]))
                    .map(Ok::<_, Infallible>),
            )
        }
    };
    Response::from_parts(parts, body)
}
