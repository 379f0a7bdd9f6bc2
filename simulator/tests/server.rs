//! The simulator as a library, on its own: started on an ephemeral port and spoken to in plain HTTP/1.1,
//! with no client of okta-org's.

use okta_org_simulator::{SimConfig, Simulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn post(sim: &Simulator, path: &str, token: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(sim.addr()).await.unwrap();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: SSWS {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        sim.addr(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").unwrap().1.to_string();
    (status, body)
}

#[tokio::test]
async fn the_bounce_endpoint_sorts_addresses_as_documented() {
    let mut config = SimConfig::new("t0ken");
    config.users = vec!["Ava.Adams@acme.example".into()];
    let sim = Simulator::start(config, 0).await.unwrap();
    let path = "/api/v1/org/email/bounces/remove-list";
    let body =
        r#"{"emailAddresses":["ava.adams@acme.example","name@okta@com","ben@acme.example"]}"#;

    let (status, answer) = post(&sim, path, "t0ken", body).await;
    assert_eq!(status, 200, "{answer}");
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
    let errors: Vec<(&str, &str)> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["emailAddress"].as_str().unwrap(),
                e["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{answer}");
    assert_eq!(errors[0].0, "name@okta@com");
    assert!(errors[0].1.contains("RFC 3696"));
    assert_eq!(errors[1].0, "ben@acme.example");
    assert!(errors[1].1.contains("does not belong to any user"));

    let (status, _) = post(&sim, path, "wrong", body).await;
    assert_eq!(status, 401);

    let record = sim.record();
    assert_eq!(record.accepted, vec!["ava.adams@acme.example"]);
    let statuses: Vec<u16> = record.requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![200, 401]);
}
