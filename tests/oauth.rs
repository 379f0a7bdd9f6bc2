//! OAuth 2.0 service apps end to end: private_key_jwt (RS256 and ES256 keys in every format), scopes,
//! token renewal mid-run, DPoP with rotating nonces, configuration precedence, and no secret in any output.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use okta_org::oauth::SigningKey;
use okta_org_simulator::{RetryAfterMode, ServiceApp, SimConfig, Simulator};
use serde_json::{Value, json};

const CLIENT: &str = "0oa1simserviceapp0g7";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

fn public(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn app(jwk: &str, scopes: &[&str], dpop: bool) -> ServiceApp {
    ServiceApp {
        client_id: CLIENT.into(),
        jwk: public(jwk),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        dpop,
    }
}

fn config_with(app: ServiceApp, users: usize) -> SimConfig {
    let mut c = org_with_users(users);
    c.service_apps = vec![app];
    c
}

/// Writes the key into the sandbox, readable by the owner only.
fn key_file(sb: &Sandbox, name: &str) -> String {
    let p = sb.write(name, fixture(name));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    p.to_str().unwrap().to_string()
}

async fn run_oauth(
    sim: &Simulator,
    sb: &Sandbox,
    key: &str,
    args: &[&str],
    extra_env: &[(&str, &str)],
) -> Output {
    let url = sim.url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--org-url", &url]);
    let mut env = vec![
        ("OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey"),
        ("OKTA_CLIENT_CLIENTID", CLIENT),
        ("OKTA_CLIENT_PRIVATEKEY", key),
    ];
    env.extend_from_slice(extra_env);
    sb.run(&all, &env, None).await
}

fn paths(sim: &Simulator) -> Vec<(String, u16, Option<String>)> {
    sim.record()
        .requests
        .iter()
        .map(|r| (r.path.clone(), r.status, r.authorization_scheme.clone()))
        .collect()
}

#[tokio::test]
async fn private_key_jwt_with_every_key_format() {
    for (key, public_jwk) in [
        ("rsa-pkcs1.pem", "rsa-public.jwk.json"),
        ("rsa-pkcs8.pem", "rsa-public.jwk.json"),
        ("rsa-private.jwk.json", "rsa-public.jwk.json"),
        ("ec-sec1.pem", "ec-public.jwk.json"),
        ("ec-pkcs8.pem", "ec-public.jwk.json"),
        ("ec-private.jwk.json", "ec-public.jwk.json"),
    ] {
        let sim = simulator(config_with(app(public_jwk, &["okta.orgs.read"], false), 1)).await;
        let sb = Sandbox::new("pkjwt");
        let k = key_file(&sb, key);
        let out = run_oauth(&sim, &sb, &k, &["settings", "get"], &[]).await;
        assert_eq!(out.code, 0, "{key}: {}", out.stderr);
        assert!(out.stdout.contains("Acme Corp"));
        assert!(out.stderr.is_empty(), "{key}: {}", out.stderr);
        let p = paths(&sim);
        assert_eq!(p[0].0, "/oauth2/v1/token");
        assert_eq!(
            (p[1].0.as_str(), p[1].1, p[1].2.as_deref()),
            ("/api/v1/org", 200, Some("Bearer"))
        );
    }
}

#[tokio::test]
async fn key_text_in_the_environment_and_kid() {
    let sim = simulator(config_with(
        app("ec-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let sb = Sandbox::new("keytext");
    let pem = fixture("ec-pkcs8.pem");
    let out = run_oauth(
        &sim,
        &sb,
        &pem,
        &["preferences", "get"],
        &[("OKTA_CLIENT_PRIVATEKEYID", "test-ec")],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[tokio::test]
async fn a_wrong_key_is_refused_in_one_line() {
    let sim = simulator(config_with(
        app("rsa-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let sb = Sandbox::new("wrongkey");
    let k = key_file(&sb, "ec-pkcs8.pem");
    let out = run_oauth(&sim, &sb, &k, &["settings", "get"], &[]).await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("invalid_client") && out.stderr.contains("signature"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let sb2 = Sandbox::new("notakey");
    let bad = sb2.write(
        "bad.pem",
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    );
    let out = run_oauth(&sim, &sb2, bad.to_str().unwrap(), &["settings", "get"], &[]).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}

/// The simulator itself refuses expired assertions and replayed `jti`s, as Okta does.
#[tokio::test]
async fn expired_and_replayed_assertions_are_refused() {
    let sim = simulator(config_with(
        app("ec-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let key = SigningKey::parse(&fixture("ec-private.jwk.json")).unwrap();
    let token_url = format!("{}/oauth2/v1/token", sim.url());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let assertion = |iat: u64, exp: u64, jti: &str| {
        key.jwt(json!({}), &json!({"iss": CLIENT, "sub": CLIENT, "aud": token_url, "iat": iat, "exp": exp, "jti": jti}))
    };
    okta_org::client::install_crypto();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let ask = |a: String| {
        let http = http.clone();
        let url = token_url.clone();
        async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", "okta.orgs.read"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", &a),
                ])
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = ask(assertion(now - 700, now - 100, "old")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let (status, _) = ask(assertion(now, now + 7200, "long")).await;
    assert_eq!(
        status, 401,
        "an assertion valid for two hours must be refused"
    );
    let fresh = assertion(now, now + 300, "once");
    let (status, body) = ask(fresh.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    let (status, body) = ask(fresh).await;
    assert_eq!(status, 401);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already been used")
    );
}

#[tokio::test]
async fn scopes_are_requested_per_command_and_enforced() {
    let sim = simulator(config_with(
        app("ec-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let sb = Sandbox::new("scopes");
    let k = key_file(&sb, "ec-pkcs8.pem");
    // The app may not have okta.orgs.manage: the token request says so.
    let out = run_oauth(
        &sim,
        &sb,
        &k,
        &["settings", "update", "--set", "city=X"],
        &[],
    )
    .await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("invalid_scope") && out.stderr.contains("okta.orgs.manage"),
        "{}",
        out.stderr
    );
    // Configured scopes win; the API then refuses the change with 403 naming the scope.
    let out = run_oauth(
        &sim,
        &sb,
        &k,
        &["settings", "update", "--set", "city=X"],
        &[("OKTA_CLIENT_SCOPES", "okta.orgs.read")],
    )
    .await;
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("E0000006") && out.stderr.contains("okta.orgs.manage"),
        "{}",
        out.stderr
    );
    let out = run_oauth(&sim, &sb, &k, &["config", "check"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("ok: got a Bearer access token")
            && out.stdout.contains("scopes okta.orgs.read"),
        "{}",
        out.stdout
    );
}

/// A long bounce run whose tokens stop working long before `expires_in` says: each 401 gets one new
/// token, and nothing is lost.
#[tokio::test]
async fn tokens_that_expire_mid_run_are_renewed() {
    let mut c = config_with(
        app("rsa-public.jwk.json", &["okta.orgs.manage"], false),
        4000,
    );
    c.token_lifetime = Some(1);
    c.rate_limit = 1;
    c.window_secs = 1;
    let sim = simulator(c).await;
    let sb = Sandbox::new("expiry");
    let k = key_file(&sb, "rsa-pkcs8.pem");
    let input = sb.write("in.csv", user_list(0..4000));
    let out = run_oauth(
        &sim,
        &sb,
        &k,
        &[
            "bounces",
            "remove",
            input.to_str().unwrap(),
            "--report",
            "r.csv",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = read_report(&sb.path("r.csv"));
    assert!(report.iter().all(|r| r.status == "accepted"));
    let record = sim.record();
    assert_eq!(record.accepted.len(), 4000);
    let tokens = record
        .requests
        .iter()
        .filter(|r| r.path == "/oauth2/v1/token")
        .count();
    assert!(
        tokens >= 2,
        "expected the token to be renewed: {:?}",
        paths(&sim)
    );
    assert!(
        record.sent_counts.values().all(|&n| n == 1),
        "an address was accepted twice"
    );
}

/// DPoP with a nonce that rotates every few calls while many requests are in flight (the budget
/// advertised, answers slow): the requests sent with the old nonce are refused together, and the run
/// slows down and goes on instead of giving them up.
#[tokio::test]
async fn dpop_nonces_that_rotate_under_concurrency() {
    let mut c = config_with(
        app(
            "ec-public.jwk.json",
            &["okta.orgs.manage", "okta.orgs.read"],
            true,
        ),
        8000,
    );
    c.dpop_nonce_rotate_every = Some(2);
    (c.rate_limit, c.window_secs) = (100, 60);
    c.latency = Duration::from_millis(300);
    let sim = simulator(c).await;
    let sb = Sandbox::new("dpop-rotate");
    let k = key_file(&sb, "ec-sec1.pem");
    let input = sb.write("in.csv", user_list(0..8000));
    let out = run_oauth(
        &sim,
        &sb,
        &k,
        &["bounces", "remove", input.to_str().unwrap(), "--dpop"],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(
        report.iter().filter(|r| r.status == "accepted").count(),
        8000
    );
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    assert!(
        record.requests.iter().any(|r| r.status == 401),
        "the nonce never rotated under a request"
    );
}

/// DPoP: the token request meets use_dpop_nonce first; API calls carry `DPoP` tokens and fresh proofs,
/// through rotating resource nonces and 429s, and nothing is lost.
#[tokio::test]
async fn dpop_with_nonces_and_rate_limits() {
    let mut c = config_with(
        app(
            "ec-public.jwk.json",
            &["okta.orgs.manage", "okta.orgs.read"],
            true,
        ),
        5000,
    );
    c.dpop_nonce_rotate_every = Some(2);
    c.token_lifetime = Some(2);
    c.rate_limit = 2;
    c.window_secs = 2;
    c.advertise_limits = false;
    c.retry_after = RetryAfterMode::Seconds(1);
    let sim = simulator(c).await;
    let sb = Sandbox::new("dpop");
    let k = key_file(&sb, "ec-sec1.pem");
    let input = sb.write("in.csv", user_list(0..5000));
    let out = run_oauth(
        &sim,
        &sb,
        &k,
        &[
            "bounces",
            "remove",
            input.to_str().unwrap(),
            "--dpop",
            "--max-retries",
            "10",
        ],
        &[],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report = parse_report(&out.stdout);
    assert_eq!(
        report.iter().filter(|r| r.status == "accepted").count(),
        5000
    );
    let record = sim.record();
    assert!(record.violations.is_empty(), "{:?}", record.violations);
    let p = paths(&sim);
    assert_eq!(
        (p[0].0.as_str(), p[0].1),
        ("/oauth2/v1/token", 400),
        "first the nonce challenge"
    );
    assert_eq!((p[1].0.as_str(), p[1].1), ("/oauth2/v1/token", 200));
    assert!(
        record
            .requests
            .iter()
            .filter(|r| r.batch.is_some())
            .all(|r| r.authorization_scheme.as_deref() == Some("DPoP"))
    );
    assert!(
        record.requests.iter().any(|r| r.status == 429),
        "expected a 429 to retry through"
    );
    assert!(
        record
            .requests
            .iter()
            .any(|r| r.path.ends_with("remove-list") && r.status == 401),
        "expected a nonce challenge"
    );
    let out = run_oauth(&sim, &sb, &k, &["config", "check", "--dpop"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("got a DPoP access token"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn bearer_mode_uses_a_token_from_elsewhere() {
    let sim = simulator(config_with(
        app("ec-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let key = SigningKey::parse(&fixture("ec-pkcs8.pem")).unwrap();
    let token_url = format!("{}/oauth2/v1/token", sim.url());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let a = key.jwt(json!({}), &json!({"iss": CLIENT, "sub": CLIENT, "aud": token_url, "iat": now, "exp": now + 60, "jti": "bearer-test"}));
    okta_org::client::install_crypto();
    let body: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "okta.orgs.read"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", &a),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = body["access_token"].as_str().unwrap().to_string();
    let sb = Sandbox::new("bearer");
    let url = sim.url();
    let out = sb
        .run(
            &["communication", "get", "--org-url", &url, "-vvv"],
            &[
                ("OKTA_CLIENT_AUTHORIZATIONMODE", "Bearer"),
                ("OKTA_CLIENT_TOKEN", &token),
                ("RUST_LOG", "trace"),
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(paths(&sim).last().unwrap().2.as_deref(), Some("Bearer"));
    assert!(!out.all().contains(&token));
}

#[tokio::test]
async fn config_show_tells_each_source_and_hides_secrets() {
    let sb = Sandbox::new("show");
    std::fs::create_dir_all(sb.path(".okta")).unwrap();
    sb.write(".okta/okta.yaml", "okta:\n  client:\n    orgUrl: https://home.okta.com\n    token: 00HOMESECRETTOKEN\n  profiles:\n    staging:\n      client:\n        orgUrl: https://staging.okta.com\n");
    sb.write(
        "okta.yaml",
        "okta:\n  client:\n    clientId: 0oaWORK\n    scopes:\n      - okta.orgs.read\n",
    );
    let key = key_file(&sb, "ec-pkcs8.pem");
    let out = sb
        .run(
            &[
                "config",
                "show",
                "--private-key",
                &key,
                "--profile",
                "staging",
            ],
            &[
                ("OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey"),
                ("OKTA_CLIENT_REQUESTTIMEOUT", "30"),
            ],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = |name: &str| {
        out.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}: {}", out.stdout))
            .to_string()
    };
    assert!(
        line("orgUrl").contains("https://staging.okta.com")
            && line("orgUrl").contains(".okta/okta.yaml")
    );
    assert!(line("token").contains("(set, redacted)") && line("token").contains(".okta/okta.yaml"));
    assert!(line("clientId").contains("0oaWORK") && line("clientId").contains("okta.yaml"));
    assert!(
        line("authorizationMode").contains("PrivateKey")
            && line("authorizationMode").contains("$OKTA_CLIENT_AUTHORIZATIONMODE")
    );
    assert!(
        line("privateKey").contains("redacted") && line("privateKey").contains("--private-key")
    );
    assert!(line("requestTimeout").contains("30 s"));
    assert!(!out.all().contains("HOMESECRETTOKEN"));
    assert!(
        !out.all()
            .contains(fixture("ec-pkcs8.pem").lines().nth(1).unwrap())
    );
    let out = sb
        .run(
            &["config", "show", "-o", "json"],
            &[("OKTA_CLIENT_ORGURL", "https://env.okta.com")],
            None,
        )
        .await;
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(
        v["orgUrl"],
        json!({"value": "https://env.okta.com", "source": "$OKTA_CLIENT_ORGURL"})
    );
    assert_eq!(v["token"]["value"], "(set, redacted)");
}

#[cfg(unix)]
#[tokio::test]
async fn readable_secrets_are_warned_about() {
    use std::os::unix::fs::PermissionsExt;
    let sim = simulator(config_with(
        app("ec-public.jwk.json", &["okta.orgs.read"], false),
        1,
    ))
    .await;
    let sb = Sandbox::new("perm");
    let k = key_file(&sb, "ec-pkcs8.pem");
    std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_oauth(&sim, &sb, &k, &["settings", "get"], &[]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("can be read by other users") && out.stderr.contains("chmod 600"),
        "{}",
        out.stderr
    );
}

/// Every mode, every verbosity, success and failure: no token, key, assertion or proof in any output.
#[tokio::test]
async fn no_secret_appears_in_any_output() {
    let mut c = config_with(
        app(
            "rsa-public.jwk.json",
            &["okta.orgs.manage", "okta.orgs.read"],
            false,
        ),
        1500,
    );
    c.dpop_nonce_rotate_every = Some(3);
    let sim_plain = simulator(c.clone()).await;
    c.service_apps[0].dpop = true;
    let sim_dpop = simulator(c).await;
    let sb = Sandbox::new("secrets");
    let key = key_file(&sb, "rsa-pkcs1.pem");
    let pem_body = fixture("rsa-pkcs1.pem").lines().nth(3).unwrap().to_string();
    let jwk_d = public("rsa-private.jwk.json")["d"].as_str().unwrap()[..40].to_string();
    let input = sb.write("in.csv", user_list(0..1500));
    let inp = input.to_str().unwrap().to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec!["bounces", "remove", &inp],
        vec!["settings", "get"],
        vec!["settings", "update", "--set", "city=Oslo"],
        vec!["config", "check"],
        vec!["config", "show"],
    ];
    for sim in [&sim_plain, &sim_dpop] {
        for cmd in &commands {
            for verbosity in ["-v", "-vvv"] {
                for client in [CLIENT, "0oaUNKNOWN"] {
                    let mut args = cmd.clone();
                    args.push(verbosity);
                    if std::ptr::eq(sim, &sim_dpop) {
                        args.push("--dpop");
                    }
                    let url = sim.url();
                    args.extend_from_slice(&["--org-url", &url]);
                    let env = [
                        ("OKTA_CLIENT_AUTHORIZATIONMODE", "PrivateKey"),
                        ("OKTA_CLIENT_CLIENTID", client),
                        ("OKTA_CLIENT_PRIVATEKEY", key.as_str()),
                        ("RUST_LOG", "trace"),
                    ];
                    let out = sb.run(&args, &env, None).await;
                    let all = out.all();
                    assert!(
                        !all.contains("eyJ"),
                        "{args:?}: a JWT or token in the output:\n{all}"
                    );
                    assert!(
                        !all.contains(&pem_body),
                        "{args:?}: key material in the output"
                    );
                    assert!(!all.contains(&jwk_d));
                    assert!(!all.contains("BEGIN RSA PRIVATE KEY"));
                    assert!(!all.contains("panicked"), "{all}");
                }
            }
        }
    }
}

#[tokio::test]
async fn config_check_with_an_api_token_and_a_bad_ca_cert() {
    let sim = simulator(org_with_users(1)).await;
    let sb = Sandbox::new("check");
    let url = sim.url();
    let out = sb
        .run(
            &["config", "check", "--org-url", &url],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("ok: reached http://127.0.0.1:"),
        "{}",
        out.stdout
    );
    let out = sb
        .run(
            &["config", "check", "--org-url", &url],
            &[("OKTA_CLIENT_TOKEN", "nope")],
            None,
        )
        .await;
    assert_eq!(out.code, 5);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    let ca = sb.write("ca.pem", "not a certificate");
    let out = sb
        .run(
            &[
                "settings",
                "get",
                "--org-url",
                &url,
                "--ca-cert",
                ca.to_str().unwrap(),
            ],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("ca.pem"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
}
