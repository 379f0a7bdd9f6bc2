//! The simulator's JWS checks against tokens signed outside this project (with `openssl dgst -sha256
//! -sign`, see fixtures/README.md) and the worked examples of RFC 7638 and RFC 9449.

use okta_org_simulator::jws;
use serde_json::{Value, json};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_string()
}

fn jwk(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

#[test]
fn tokens_signed_by_the_fixture_keys_verify() {
    for (token, key, alg) in [
        ("rs256.jwt", "rsa-public.jwk.json", "RS256"),
        ("es256.jwt", "ec-public.jwk.json", "ES256"),
    ] {
        let (header, claims) = jws::verify(&fixture(token), &jwk(key)).expect(token);
        assert_eq!(header["alg"], alg);
        assert_eq!(claims["iss"], "fixture-client");
        assert_eq!(claims["jti"], "fixture-1");
    }
}

#[test]
fn a_token_does_not_verify_with_another_key() {
    let (rsa, ec) = (jwk("rsa-public.jwk.json"), jwk("ec-public.jwk.json"));
    assert!(jws::verify(&fixture("rs256.jwt"), &ec).is_none());
    assert!(jws::verify(&fixture("es256.jwt"), &rsa).is_none());
    let mut other_point = ec.clone();
    other_point["y"] = ec["x"].clone();
    assert!(jws::verify(&fixture("es256.jwt"), &other_point).is_none());
    let mut p384 = ec.clone();
    p384["crv"] = json!("P-384");
    assert!(jws::verify(&fixture("es256.jwt"), &p384).is_none());
}

/// The same bytes in another order: a changed claim, a changed signature, an `alg` of `none`, a part
/// more or less.
#[test]
fn a_tampered_token_does_not_verify() {
    let key = jwk("rsa-public.jwk.json");
    let token = fixture("rs256.jwt");
    let parts: Vec<&str> = token.split('.').collect();
    let other_claims = jws::encode(br#"{"iss":"fixture-client","sub":"admin","jti":"fixture-1"}"#);
    let none_header = jws::encode(br#"{"alg":"none"}"#);
    let mut sig = parts[2].to_string();
    let flipped = if sig.ends_with('A') { "B" } else { "A" };
    sig.replace_range(sig.len() - 1.., flipped);
    for bad in [
        format!("{}.{other_claims}.{}", parts[0], parts[2]),
        format!("{}.{}.{sig}", parts[0], parts[1]),
        format!("{none_header}.{}.", parts[1]),
        format!("{none_header}.{}.{}", parts[1], parts[2]),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        format!("{token}="),
    ] {
        assert!(jws::verify(&bad, &key).is_none(), "{bad}");
    }
}

#[test]
fn peek_reads_what_a_token_claims_without_trusting_it() {
    let (header, claims) = jws::peek(&fixture("es256.jwt")).unwrap();
    assert_eq!(
        (header["alg"].as_str(), claims["sub"].as_str()),
        (Some("ES256"), Some("fixture-client"))
    );
    assert!(jws::peek("not-a-jwt").is_none());
}

/// RFC 7638 section 3.1's example key and thumbprint, and the fixtures' (computed apart with Python's
/// hashlib over the sorted required members).
#[test]
fn thumbprints() {
    let rfc_example = json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    });
    assert_eq!(
        jws::thumbprint(&rfc_example).as_deref(),
        Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
    );
    assert_eq!(
        jws::thumbprint(&jwk("rsa-public.jwk.json")).as_deref(),
        Some("kF2FZQSCLjNY0DPGazEb_adV83HfETHVP-y6SuEVL3w")
    );
    assert_eq!(
        jws::thumbprint(&jwk("ec-public.jwk.json")).as_deref(),
        Some("i9nlxCoTuBCgCY7Gj1STHiSMilH3Hv2jmW8cBfv14Pw")
    );
    assert!(jws::thumbprint(&json!({"kty": "oct", "k": "AAAA"})).is_none());
    assert!(jws::thumbprint(&json!({"kty": "EC", "crv": "P-256", "x": "AAAA"})).is_none());
}

/// RFC 9449 section 7.1: the `ath` of its example access token.
#[test]
fn ath_of_the_rfc_9449_example() {
    assert_eq!(
        jws::sha256_of("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}
