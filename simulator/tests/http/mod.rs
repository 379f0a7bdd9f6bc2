//! Plain HTTP/1.1 to a simulator, with no client crate between the test and the server (as in
//! logs.rs and server.rs): one request a connection, the answer's status, headers and body.

#![allow(dead_code)]

use std::net::SocketAddr;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The array of a 200 answer.
    pub fn items(&self) -> Vec<Value> {
        assert_eq!(self.status, 200, "{}", self.body);
        self.json().as_array().expect("an array").clone()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `X-Rate-Limit-Limit`, as a number.
    pub fn limit(&self) -> u32 {
        self.header("x-rate-limit-limit")
            .unwrap_or_else(|| panic!("no X-Rate-Limit-Limit: {:?}", self.headers))
            .parse()
            .unwrap()
    }

    /// The path and query of the `Link` with this `rel`.
    pub fn link(&self, rel: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("link"))
            .flat_map(|(_, v)| v.split(", <"))
            .find(|l| l.ends_with(&format!("rel=\"{rel}\"")))
            .and_then(|l| l.trim_start_matches('<').split('>').next())
            .and_then(|url| url.find("/api/").map(|i| url[i..].to_string()))
    }
}

pub async fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    auth: &str,
    content_type: &str,
    body: &str,
) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nUser-Agent: sim-test\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap()[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        unchunk(body)
    } else {
        body.to_string()
    };
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

/// `GET target` with an API token.
pub async fn get(addr: SocketAddr, target: &str, token: &str) -> Answer {
    request(
        addr,
        "GET",
        target,
        &format!("SSWS {token}"),
        "application/json",
        "",
    )
    .await
}

/// `POST /api/v1/org/email/bounces/remove-list` of these addresses with an API token.
pub async fn remove(addr: SocketAddr, token: &str, addresses: &[&str]) -> Answer {
    let body = serde_json::json!({ "emailAddresses": addresses }).to_string();
    request(
        addr,
        "POST",
        "/api/v1/org/email/bounces/remove-list",
        &format!("SSWS {token}"),
        "application/json",
        &body,
    )
    .await
}

/// `s` percent-encoded for a query string.
pub fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("x", s)]).unwrap()[2..].to_string()
}

/// Waits (at most 5 s) until `done` holds, checking every 20 ms; false if it never did.
pub async fn until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !done() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}
