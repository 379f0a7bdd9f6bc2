//! Reading an answer's body within its endpoint's limit ([`crate::endpoints`]): chunk by chunk, never
//! past the limit, so memory stays flat whatever a server (or a proxy) sends, however long or endless.

/// Reads at most `limit` bytes of `resp`'s body, chunk by chunk; the flag says there was more (the rest is
/// not read: a `Content-Length` past the limit is believed at once, a chunked body is cut when it passes
/// it).
pub(super) async fn read_capped(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), reqwest::Error> {
    let declared = resp.content_length();
    if declared.is_some_and(|n| n > limit as u64) && resp.status().is_success() {
        return Ok((Vec::new(), true));
    }
    let mut body = Vec::with_capacity(declared.map_or(0, |n| n as usize).min(limit));
    while let Some(chunk) = resp.chunk().await? {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use std::sync::Arc;
    use std::time::Duration;

    use reqwest::{StatusCode, Url};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A server on 127.0.0.1 that answers every connection with `answer` (head and body as given), then,
    /// if `endless`, with chunks of dots until the client goes away.
    async fn answering(answer: Vec<u8>) -> Url {
        serve(answer, false).await
    }

    async fn serve(answer: Vec<u8>, endless: bool) -> Url {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let answer = answer.clone();
                tokio::spawn(async move {
                    let mut request = [0u8; 4096];
                    let _ = conn.read(&mut request).await;
                    let _ = conn.write_all(&answer).await;
                    let chunk = [b"4000\r\n".as_slice(), &[b'.'; 0x4000], b"\r\n"].concat();
                    while endless && conn.write_all(&chunk).await.is_ok() {}
                    let _ = conn.shutdown().await;
                });
            }
        });
        url
    }

    fn chunked(status: &str, body: &[u8], pieces: usize) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for piece in body.chunks(body.len().div_ceil(pieces).max(1)) {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(piece);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
        out
    }

    /// `GET /api/v1/org` with an answer limit of `limit`, once (no retries).
    async fn get(url: Url, limit: usize) -> Result<Response, ApiError> {
        let mut opts = ClientOptions::new(
            url,
            Arc::new(StaticToken::ssws(crate::secret::Secret::new("t"))),
        );
        opts.max_retries = 0;
        let client = Client::new(opts).unwrap();
        let mut req = crate::endpoints::GET_ORG.request(&[]);
        req.answer_limit = limit;
        client.send(&req).await
    }

    /// A JSON object of exactly `n` bytes.
    fn json_of(n: usize) -> Vec<u8> {
        let mut v = br#"{"companyName":""#.to_vec();
        v.resize(n - 2, b'x');
        v.extend_from_slice(b"\"}");
        v
    }

    #[tokio::test]
    async fn an_answer_is_read_up_to_its_limit_and_no_further() {
        // Exactly the limit, in pieces: read whole.
        let url = answering(chunked("200 OK", &json_of(1000), 3)).await;
        let resp = get(url, 1000).await.unwrap();
        assert_eq!(resp.body, json_of(1000));
        // One byte more, chunked or declared: refused, and retryable.
        for answer in [
            chunked("200 OK", &json_of(1001), 3),
            [
                b"HTTP/1.1 200 OK\r\ncontent-length: 1001\r\n\r\n".to_vec(),
                json_of(1001),
            ]
            .concat(),
        ] {
            let url = answering(answer).await;
            let err = get(url, 1000).await.unwrap_err();
            assert!(
                matches!(
                    err,
                    ApiError::TooLarge {
                        status: 200,
                        limit: 1000,
                        idempotent: true
                    }
                ),
                "{err:?}"
            );
            assert_eq!(err.failure(), Failure::Retryable);
            assert!(
                err.to_string()
                    .starts_with("answer too large: HTTP 200 with a body over 1000 bytes")
            );
        }
    }

    /// An error answer longer than [`crate::endpoints::ERROR_ANSWER`], even one without end, is still the
    /// error it is, read from its start.
    #[tokio::test]
    async fn an_error_answer_is_read_from_its_start_only() {
        let mut head = chunked("404 Not Found", b"no such thing ", 1);
        head.truncate(head.len() - b"0\r\n\r\n".len());
        let url = serve(head, true).await;
        let err = tokio::time::timeout(Duration::from_secs(20), get(url, 1 << 20))
            .await
            .expect("the body is not read to its end")
            .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
        assert!(
            err.to_string().starts_with("HTTP 404: no such thing ..."),
            "{err}"
        );
        assert!(err.to_string().len() < 400);
    }
}
