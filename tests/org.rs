//! The org commands end to end: the real binary against the simulator, checking the request the server
//! received and what the command printed, as text and as JSON, plus the error paths.

mod common;

use common::*;
use okta_org_simulator::{Seen, SimConfig, Simulator, user_id};
use serde_json::{Value, json};

/// Runs `okta-org ARGS --org-url SIM` with the test token.
async fn okta(sim: &Simulator, sb: &Sandbox, args: &[&str]) -> Output {
    let url = sim.url();
    let mut all: Vec<&str> = args.to_vec();
    all.extend_from_slice(&["--org-url", &url]);
    sb.run(&all, &[("OKTA_CLIENT_TOKEN", TOKEN)], None).await
}

fn last(sim: &Simulator) -> Seen {
    sim.record().requests.last().cloned().expect("a request")
}

fn body(seen: &Seen) -> Value {
    serde_json::from_str(seen.body.as_deref().expect("a body")).expect("JSON body")
}

fn json_out(out: &Output) -> Value {
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

async fn demo() -> (Simulator, Sandbox) {
    (simulator(SimConfig::demo(TOKEN)).await, Sandbox::new("org"))
}

/// One read command: the request, the text view and the JSON as received.
async fn check_read(args: &[&str], path: &str, text_has: &[&str], json_check: impl Fn(&Value)) {
    let (sim, sb) = demo().await;
    let out = okta(&sim, &sb, args).await;
    assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
    for t in text_has {
        assert!(
            out.stdout.contains(t),
            "{args:?}: no {t:?} in\n{}",
            out.stdout
        );
    }
    let seen = last(&sim);
    assert_eq!((seen.method.as_str(), seen.path.as_str()), ("GET", path));
    assert_eq!(seen.authorization_scheme.as_deref(), Some("SSWS"));
    let mut j = args.to_vec();
    j.extend_from_slice(&["-o", "json"]);
    json_check(&json_out(&okta(&sim, &sb, &j).await));
}

#[tokio::test]
async fn reads_print_text_and_the_json_as_received() {
    check_read(
        &["settings", "get"],
        "/api/v1/org",
        &["Company name", "Acme Corp", "San Francisco"],
        |v| {
            assert_eq!(v["companyName"], "Acme Corp");
            assert!(v["_links"]["contacts"]["href"].is_string());
            assert_eq!(v["expiresAt"], Value::Null);
        },
    )
    .await;
    check_read(
        &["contacts", "list"],
        "/api/v1/org/contacts",
        &["Contact types  billing, technical"],
        |v| {
            assert_eq!(v[0]["contactType"], "BILLING");
            assert!(v[1]["_links"]["technical"]["href"].is_string());
        },
    )
    .await;
    check_read(
        &["contacts", "get", "billing"],
        "/api/v1/org/contacts/BILLING",
        &["User ID", &user_id(0)],
        |v| {
            assert_eq!(v["userId"], user_id(0));
            assert!(
                v["_links"]["user"]["href"]
                    .as_str()
                    .unwrap()
                    .ends_with(&user_id(0))
            );
        },
    )
    .await;
    check_read(
        &["support", "get"],
        "/api/v1/org/privacy/oktaSupport",
        &["Okta Support access", "DISABLED"],
        |v| {
            assert_eq!(v["support"], "DISABLED");
            assert!(v["_links"]["grant"].is_object());
        },
    )
    .await;
    check_read(
        &["support", "cases", "list"],
        "/api/v1/org/privacy/oktaSupport/cases",
        &["1000001", "Reset admin password"],
        |v| {
            assert_eq!(v["supportCases"][1]["caseNumber"], "1000002");
        },
    )
    .await;
    check_read(
        &["communication", "get"],
        "/api/v1/org/privacy/oktaCommunication",
        &["receive Okta communication emails  yes"],
        |v| {
            assert_eq!(v["optOutEmailUsers"], false);
            assert!(v["_links"]["optOut"].is_object());
        },
    )
    .await;
    check_read(
        &["preferences", "get"],
        "/api/v1/org/preferences",
        &["End-user footer shown  yes"],
        |v| {
            assert_eq!(v["showEndUserFooter"], true);
            assert!(v["_links"]["hideEndUserFooter"].is_object());
        },
    )
    .await;
    check_read(
        &["admin", "third-party", "get"],
        "/api/v1/org/orgSettings/thirdPartyAdminSetting",
        &["Third-party admins  no"],
        |v| {
            assert_eq!(v, &json!({"thirdPartyAdmin": false}));
        },
    )
    .await;
    check_read(
        &["admin", "auto-assign-admin-app", "get"],
        "/api/v1/org/settings/autoAssignAdminAppSetting",
        &["Admin Console assigned with an admin role  yes"],
        |v| {
            assert_eq!(v, &json!({"autoAssignAdminAppSetting": true}));
        },
    )
    .await;
    check_read(
        &["admin", "client-privileges", "get"],
        "/api/v1/org/settings/clientPrivilegesSetting",
        &["Super Admin role for new public client apps  no"],
        |v| {
            assert_eq!(v, &json!({"clientPrivilegesSetting": false}));
        },
    )
    .await;
}

#[tokio::test]
async fn metadata_needs_no_token_and_sends_none() {
    let (sim, sb) = demo().await;
    let url = sim.url();
    let out = sb.run(&["metadata", "--org-url", &url], &[], None).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("idx (Identity Engine)"),
        "{}",
        out.stdout
    );
    let seen = last(&sim);
    assert_eq!(seen.path, "/.well-known/okta-organization");
    assert_eq!(seen.authorization_scheme, None);
    let out = sb
        .run(
            &["metadata", "--org-url", &url, "-o", "json"],
            &[("OKTA_CLIENT_TOKEN", TOKEN)],
            None,
        )
        .await;
    assert_eq!(json_out(&out)["pipeline"], "idx");
    assert_eq!(
        last(&sim).authorization_scheme,
        None,
        "metadata must not carry the token"
    );
}

#[tokio::test]
async fn settings_update_merges_and_never_sends_read_only_fields() {
    let (sim, sb) = demo().await;
    let out = okta(
        &sim,
        &sb,
        &[
            "settings",
            "update",
            "--set",
            "city=Paris",
            "--set",
            "name=Acme SAS",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("Paris") && out.stdout.contains("Acme SAS"));
    let seen = last(&sim);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/v1/org")
    );
    assert_eq!(
        body(&seen),
        json!({"companyName": "Acme SAS", "city": "Paris"})
    );
    // A file of fields to change, by their API names.
    let f = sb.write("changes.json", r#"{"website":"https://new.example"}"#);
    let out = okta(
        &sim,
        &sb,
        &[
            "settings",
            "update",
            "--file",
            f.to_str().unwrap(),
            "-o",
            "json",
        ],
    )
    .await;
    let v = json_out(&out);
    assert_eq!(v["website"], "https://new.example");
    assert_eq!(v["city"], "Paris", "POST must merge");
    assert_eq!(body(&last(&sim)), json!({"website": "https://new.example"}));
}

#[tokio::test]
async fn settings_update_refuses_bad_input_before_sending() {
    let (sim, sb) = demo().await;
    let bad = sb.write("bad.json", "{not json");
    let list = sb.write("list.json", "[1,2]");
    let ro = sb.write("ro.json", r#"{"id":"x","city":"Paris"}"#);
    let unknown = sb.write("unknown.json", r#"{"city":"Paris","futureField":{"x":1}}"#);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["settings", "update", "--set", "city"], "FIELD=VALUE"),
        (vec!["settings", "update", "--set", "id=1"], "read-only"),
        (
            vec!["settings", "update", "--set", "colour=red"],
            "writable fields: companyName",
        ),
        (vec!["settings", "update"], "nothing to change"),
        (
            vec!["settings", "update", "--file", bad.to_str().unwrap()],
            "not valid JSON",
        ),
        (
            vec!["settings", "update", "--file", list.to_str().unwrap()],
            "JSON object",
        ),
        (
            vec!["settings", "update", "--file", ro.to_str().unwrap()],
            "id is read-only; writable fields: companyName",
        ),
        (
            vec!["settings", "update", "--file", unknown.to_str().unwrap()],
            "unknown field futureField; writable fields: companyName",
        ),
        (
            vec![
                "settings",
                "replace",
                "--file",
                unknown.to_str().unwrap(),
                "--yes",
            ],
            "unknown field futureField",
        ),
        (
            vec!["settings", "replace", "--file", "missing.json", "--yes"],
            "cannot read",
        ),
    ];
    for (args, want) in cases {
        let out = okta(&sim, &sb, &args).await;
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(want), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    }
    assert!(
        sim.record().requests.is_empty(),
        "a request went out on bad input"
    );
}

#[tokio::test]
async fn settings_replace_deletes_what_is_not_given_and_asks_first() {
    let (sim, sb) = demo().await;
    let f = sb.write(
        "org.json",
        r#"{"companyName":"New Co","website":"https://new.example","id":"ignored"}"#,
    );
    let file = f.to_str().unwrap();
    let out = okta(&sim, &sb, &["settings", "replace", "--file", file]).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--yes"), "{}", out.stderr);
    assert!(sim.record().requests.is_empty());
    let out = okta(
        &sim,
        &sb,
        &["settings", "replace", "--file", file, "--yes", "-o", "json"],
    )
    .await;
    let v = json_out(&out);
    let seen = last(&sim);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/api/v1/org")
    );
    assert_eq!(
        body(&seen),
        json!({"companyName": "New Co", "website": "https://new.example"})
    );
    assert_eq!(v["companyName"], "New Co");
    assert!(
        v.get("city").is_none() && v.get("address1").is_none(),
        "PUT must delete: {v}"
    );
    assert_eq!(v["id"], "00o1sim0rg1d3m0000g7");
    // A file from settings get -o json works as it is: its read-only fields are dropped, with a note.
    let got = okta(&sim, &sb, &["settings", "get", "-o", "json"]).await;
    let f = sb.write("got.json", &got.stdout);
    let out = okta(
        &sim,
        &sb,
        &[
            "settings",
            "replace",
            "--file",
            f.to_str().unwrap(),
            "--yes",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("not sending read-only fields: id, subdomain"),
        "{}",
        out.stderr
    );
    let sent = body(&last(&sim));
    assert!(
        sent.get("id").is_none() && sent.get("_links").is_none(),
        "{sent}"
    );
    assert_eq!(sent["companyName"], "New Co");
}

#[tokio::test]
async fn contacts_set_and_its_404() {
    let (sim, sb) = demo().await;
    let id = user_id(5);
    let out = okta(
        &sim,
        &sb,
        &["contacts", "set", "TECHNICAL", "--user-id", &id],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(&id));
    let seen = last(&sim);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/api/v1/org/contacts/TECHNICAL")
    );
    assert_eq!(body(&seen), json!({"userId": id}));
    let v = json_out(&okta(&sim, &sb, &["contacts", "get", "technical", "-o", "json"]).await);
    assert_eq!(v["userId"], id);
    let out = okta(
        &sim,
        &sb,
        &[
            "contacts",
            "set",
            "billing",
            "--user-id",
            "00uuibMot2FBByTbs0g4",
        ],
    )
    .await;
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(
        out.stderr.trim(),
        "okta-org: error: HTTP 404: E0000007 Not found: Resource not found: 00uuibMot2FBByTbs0g4 (User)"
    );
    let before = sim.record().requests.len();
    let out = okta(&sim, &sb, &["contacts", "get", "sales"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("billing") && out.stderr.contains("technical"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.record().requests.len(), before);
}

fn png(size: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.resize(size, 0);
    v
}

#[tokio::test]
async fn logo_upload_checks_the_image_and_prints_the_location() {
    let (sim, sb) = demo().await;
    let logo = sb.write("logo.png", png(2048));
    let out = okta(&sim, &sb, &["logo", "upload", logo.to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("Logo uploaded: http://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("/bc/image/fileStoreRecord?id=fs0"));
    let seen = last(&sim);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str(), seen.status),
        ("POST", "/api/v1/org/logo", 201)
    );
    let v = json_out(
        &okta(
            &sim,
            &sb,
            &["logo", "upload", logo.to_str().unwrap(), "-o", "json"],
        )
        .await,
    );
    assert_eq!(v["status"], 201);
    assert!(v["location"].as_str().unwrap().contains("fileStoreRecord"));
    let requests = sim.record().requests.len();
    let text = sb.write("logo.txt", "not an image");
    let big = sb.write("big.png", png(1 << 20));
    for (file, want) in [(text, "not a PNG, JPEG or GIF"), (big, "under 1 MB")] {
        let out = okta(&sim, &sb, &["logo", "upload", file.to_str().unwrap()]).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(out.stderr.contains(want), "{}", out.stderr);
    }
    assert_eq!(sim.record().requests.len(), requests);
}

#[tokio::test]
async fn support_grant_extend_revoke_change_the_state() {
    let (sim, sb) = demo().await;
    let v = json_out(&okta(&sim, &sb, &["support", "grant", "-o", "json"]).await);
    assert_eq!(v["support"], "ENABLED");
    assert!(v["_links"]["extend"].is_object() && v["_links"]["revoke"].is_object());
    let granted = humantime::parse_rfc3339(v["expiration"].as_str().unwrap()).unwrap();
    let hours = granted
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs_f64()
        / 3600.0;
    assert!((7.9..=8.01).contains(&hours), "{hours}");
    assert_eq!(last(&sim).path, "/api/v1/org/privacy/oktaSupport/grant");
    let v = json_out(&okta(&sim, &sb, &["support", "extend", "-o", "json"]).await);
    let extended = humantime::parse_rfc3339(v["expiration"].as_str().unwrap()).unwrap();
    assert_eq!(
        extended.duration_since(granted).unwrap().as_secs(),
        24 * 3600
    );
    let out = okta(&sim, &sb, &["support", "revoke"]).await;
    assert_eq!(out.code, 0);
    assert!(
        out.stdout.contains("DISABLED") && out.stdout.contains("(none)"),
        "{}",
        out.stdout
    );
    assert_eq!(last(&sim).method, "POST");
}

#[tokio::test]
async fn support_grant_on_a_current_org_points_to_support_cases() {
    let mut config = SimConfig::demo(TOKEN);
    config.support_redirect = true;
    let sim = simulator(config).await;
    let sb = Sandbox::new("redirect");
    for op in ["grant", "extend", "revoke"] {
        let out = okta(&sim, &sb, &["support", op]).await;
        assert_eq!(out.code, 2, "{}", out.stderr);
        assert!(
            out.stderr.contains("HTTP 301") && out.stderr.contains("deprecated"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains("okta-org support cases update CASE"),
            "{}",
            out.stderr
        );
        assert_eq!(last(&sim).status, 301);
    }
}

#[tokio::test]
async fn support_case_update_sends_a_patch() {
    let (sim, sb) = demo().await;
    let out = okta(
        &sim,
        &sb,
        &[
            "support",
            "cases",
            "update",
            "1000002",
            "--impersonation",
            "enabled",
            "--expiration",
            "2099-01-25T11:13:14Z",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("ENABLED") && out.stdout.contains("2099-01-25T11:13:14.000Z"),
        "{}",
        out.stdout
    );
    let seen = last(&sim);
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PATCH", "/api/v1/org/privacy/oktaSupport/cases/1000002")
    );
    assert_eq!(
        body(&seen),
        json!({"impersonation": {"status": "ENABLED", "expiration": "2099-01-25T11:13:14.000Z"}})
    );
    let v = json_out(
        &okta(
            &sim,
            &sb,
            &[
                "support",
                "cases",
                "update",
                "1000001",
                "--self-assigned",
                "approved",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(v["selfAssigned"]["status"], "APPROVED");
    assert_eq!(
        body(&last(&sim)),
        json!({"selfAssigned": {"status": "APPROVED"}})
    );
    let v = json_out(
        &okta(
            &sim,
            &sb,
            &[
                "support",
                "cases",
                "update",
                "1000002",
                "--impersonation",
                "disabled",
                "-o",
                "json",
            ],
        )
        .await,
    );
    assert_eq!(
        v["impersonation"],
        json!({"status": "DISABLED", "expiration": null})
    );
    let out = okta(&sim, &sb, &["support", "cases", "update", "999"]).await;
    assert_eq!(out.code, 2);
    let out = okta(
        &sim,
        &sb,
        &[
            "support",
            "cases",
            "update",
            "999",
            "--impersonation",
            "enabled",
        ],
    )
    .await;
    assert_eq!(out.code, 6, "{}", out.stderr);
}

#[tokio::test]
async fn aerial_consent_lifecycle() {
    let (sim, sb) = demo().await;
    // No grant yet: Okta answers 404 E0000007, which is the answer "none", not an error.
    let out = okta(&sim, &sb, &["aerial", "get"]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.starts_with("No Okta Aerial account has consent"),
        "{}",
        out.stdout
    );
    let out = okta(&sim, &sb, &["aerial", "get", "-o", "json"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "null\n"));
    let account = "0200bs0617vvhv2v675mch1cukp";
    let v = json_out(
        &okta(
            &sim,
            &sb,
            &["aerial", "grant", "--account-id", account, "-o", "json"],
        )
        .await,
    );
    assert_eq!(v["accountId"], account);
    assert!(v["_links"]["revoke"].is_object());
    assert_eq!(body(&last(&sim)), json!({"accountId": account}));
    let out = okta(&sim, &sb, &["aerial", "get"]).await;
    assert!(out.stdout.contains(account), "{}", out.stdout);
    let out = okta(&sim, &sb, &["aerial", "grant", "--account-id", account]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr
            .contains("The org already has a consent grant added to Aerial."),
        "{}",
        out.stderr
    );
    let out = okta(&sim, &sb, &["aerial", "revoke", "--account-id", account]).await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(last(&sim).path, "/api/v1/org/privacy/aerial/revoke");
    let out = okta(&sim, &sb, &["aerial", "grant", "--account-id", "bad id!"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("Invalid aerial account ID."),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn toggles_flip_state_and_links() {
    let (sim, sb) = demo().await;
    let v = json_out(&okta(&sim, &sb, &["communication", "opt-out", "-o", "json"]).await);
    assert_eq!(v["optOutEmailUsers"], true);
    assert!(v["_links"]["optIn"].is_object() && v["_links"].get("optOut").is_none());
    assert_eq!(
        last(&sim).path,
        "/api/v1/org/privacy/oktaCommunication/optOut"
    );
    let out = okta(&sim, &sb, &["communication", "opt-in"]).await;
    assert!(out.stdout.contains("emails  yes"), "{}", out.stdout);
    assert_eq!(
        last(&sim).path,
        "/api/v1/org/privacy/oktaCommunication/optIn"
    );
    let v = json_out(&okta(&sim, &sb, &["preferences", "hide-footer", "-o", "json"]).await);
    assert_eq!(v["showEndUserFooter"], false);
    assert!(v["_links"]["showEndUserFooter"].is_object());
    let out = okta(&sim, &sb, &["preferences", "show-footer"]).await;
    assert!(out.stdout.contains("shown  yes"), "{}", out.stdout);
    assert_eq!(last(&sim).method, "POST");
    for (setting, path, field, method, label) in [
        (
            "third-party",
            "/api/v1/org/orgSettings/thirdPartyAdminSetting",
            "thirdPartyAdmin",
            "POST",
            "Third-party admins",
        ),
        (
            "auto-assign-admin-app",
            "/api/v1/org/settings/autoAssignAdminAppSetting",
            "autoAssignAdminAppSetting",
            "POST",
            "Admin Console assigned with an admin role",
        ),
        (
            "client-privileges",
            "/api/v1/org/settings/clientPrivilegesSetting",
            "clientPrivilegesSetting",
            "PUT",
            "Super Admin role for new public client apps",
        ),
    ] {
        for value in [true, false] {
            let v = json_out(
                &okta(
                    &sim,
                    &sb,
                    &["admin", setting, "set", &value.to_string(), "-o", "json"],
                )
                .await,
            );
            assert_eq!(v, json!({ field: value }));
            let seen = last(&sim);
            assert_eq!((seen.method.as_str(), seen.path.as_str()), (method, path));
            assert_eq!(body(&seen), json!({ field: value }));
            let out = okta(&sim, &sb, &["admin", setting, "get"]).await;
            let yes = if value { "yes" } else { "no" };
            assert_eq!(out.stdout.trim(), format!("{label}  {yes}"));
        }
    }
    let out = okta(&sim, &sb, &["admin", "third-party", "set", "maybe"]).await;
    assert_eq!(out.code, 2);
}

#[tokio::test]
async fn auth_errors_name_the_fix() {
    let mut config = SimConfig::demo(TOKEN);
    config.scoped_tokens = vec![("read-only-token".into(), vec!["okta.orgs.read".into()])];
    let sim = simulator(config).await;
    let sb = Sandbox::new("auth");
    let url = sim.url();
    let out = sb
        .run(
            &["settings", "get", "--org-url", &url],
            &[("OKTA_CLIENT_TOKEN", "wrong")],
            None,
        )
        .await;
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("E0000011") && out.stderr.contains("OKTA_CLIENT_TOKEN"),
        "{}",
        out.stderr
    );
    let env = [("OKTA_CLIENT_TOKEN", "read-only-token")];
    let out = sb
        .run(&["settings", "get", "--org-url", &url], &env, None)
        .await;
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = sb
        .run(
            &["settings", "update", "--set", "city=X", "--org-url", &url],
            &env,
            None,
        )
        .await;
    assert_eq!(out.code, 5);
    assert!(
        out.stderr.contains("E0000006") && out.stderr.contains("okta.orgs.manage"),
        "{}",
        out.stderr
    );
    let png = sb.write("l.png", png(100));
    let out = sb
        .run(
            &["logo", "upload", png.to_str().unwrap(), "--org-url", &url],
            &env,
            None,
        )
        .await;
    assert_eq!(out.code, 5);
    assert!(out.stderr.contains("okta.apps.manage"), "{}", out.stderr);
    let out = sb.run(&["settings", "get"], &[], None).await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("OKTA_CLIENT_ORGURL"));
}

#[tokio::test]
async fn rate_limited_reads_give_the_retry_status() {
    let mut config = SimConfig::demo(TOKEN);
    config.org_rate_limit = 1;
    config.window_secs = 60;
    // Only Retry-After (1 s) to go by, so the retry budget runs out long before the window resets.
    config.advertise_limits = false;
    config.retry_after = okta_org_simulator::RetryAfterMode::Seconds(1);
    let sim = simulator(config).await;
    let sb = Sandbox::new("org429");
    let url = sim.url();
    let env = [
        ("OKTA_CLIENT_TOKEN", TOKEN),
        ("OKTA_CLIENT_RATELIMIT_MAXRETRIES", "1"),
    ];
    let out = sb
        .run(&["settings", "get", "--org-url", &url], &env, None)
        .await;
    assert_eq!(out.code, 0);
    let out = sb
        .run(&["settings", "get", "--org-url", &url], &env, None)
        .await;
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("429") && out.stderr.contains("E0000047"),
        "{}",
        out.stderr
    );
    assert!(
        sim.record().violations.is_empty(),
        "{:?}",
        sim.record().violations
    );
}

#[tokio::test]
async fn every_command_has_help_with_an_example() {
    let sb = Sandbox::new("help");
    let commands: &[&[&str]] = &[
        &["settings", "get"],
        &["settings", "update"],
        &["settings", "replace"],
        &["contacts", "list"],
        &["contacts", "get"],
        &["contacts", "set"],
        &["logo", "upload"],
        &["support", "get"],
        &["support", "grant"],
        &["support", "extend"],
        &["support", "revoke"],
        &["support", "cases", "list"],
        &["support", "cases", "update"],
        &["aerial", "get"],
        &["aerial", "grant"],
        &["aerial", "revoke"],
        &["communication", "get"],
        &["communication", "opt-in"],
        &["communication", "opt-out"],
        &["preferences", "get"],
        &["preferences", "show-footer"],
        &["preferences", "hide-footer"],
        &["admin", "third-party", "get"],
        &["admin", "third-party", "set"],
        &["admin", "auto-assign-admin-app", "get"],
        &["admin", "client-privileges", "set"],
        &["metadata"],
        &["bounces", "remove"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = sb.run(&args, &[], None).await;
        assert_eq!(out.code, 0, "{c:?}");
        assert!(
            out.stdout.contains("Example"),
            "{c:?} has no example:\n{}",
            out.stdout
        );
        assert!(out.stdout.contains("okta-org "), "{c:?}");
    }
}
