//! The simulator's own checks of signed JWTs, so that it verifies the tool's client assertions and DPoP
//! proofs without the tool's key code: compact JWS (RFC 7515) with RS256 or ES256 (RFC 7518) against a
//! public JWK (RFC 7517), RFC 7638 thumbprints, and the base64url SHA-256 that DPoP's `ath` carries.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde_json::Value;

/// Base64url without padding, as JOSE writes every binary value.
pub fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The JSON object a base64url part of a JWS (its header or its claims) holds.
pub fn json_part(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}

/// The header and claims of a compact JWS, unverified (to learn who claims to have signed it).
pub fn peek(jws: &str) -> Option<(Value, Value)> {
    let (header, claims, _) = split(jws)?;
    Some((json_part(header)?, json_part(claims)?))
}

fn split(jws: &str) -> Option<(&str, &str, &str)> {
    let mut parts = jws.split('.');
    let found = (parts.next()?, parts.next()?, parts.next()?);
    parts.next().is_none().then_some(found)
}

/// Checks a compact JWS against a public JWK: `Some((header, claims))` when its `alg` is RS256 with an RSA
/// key or ES256 with a P-256 key and the signature over `header.claims` holds.
pub fn verify(jws: &str, jwk: &Value) -> Option<(Value, Value)> {
    let (header_part, claims_part, signature_part) = split(jws)?;
    let header = json_part(header_part)?;
    let claims = json_part(claims_part)?;
    let signature = URL_SAFE_NO_PAD.decode(signature_part).ok()?;
    let signed = &jws.as_bytes()[..header_part.len() + 1 + claims_part.len()];
    let member = |name: &str| -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(jwk.get(name)?.as_str()?)
            .ok()
            .filter(|b| !b.is_empty())
    };
    let holds = match (header.get("alg")?.as_str()?, jwk.get("kty")?.as_str()?) {
        ("RS256", "RSA") => {
            let key = RsaPublicKeyComponents {
                n: member("n")?,
                e: member("e")?,
            };
            key.verify(&RSA_PKCS1_2048_8192_SHA256, signed, &signature)
                .is_ok()
        }
        ("ES256", "EC") if jwk.get("crv")?.as_str()? == "P-256" => {
            let (x, y) = (member("x")?, member("y")?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            // SEC 1's uncompressed point: 0x04, then x, then y.
            let point = [&[4u8][..], &x, &y].concat();
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, &signature)
                .is_ok()
        }
        _ => false,
    };
    holds.then_some((header, claims))
}

/// The RFC 7638 thumbprint of a public JWK: base64url SHA-256 of the JSON object of its required
/// members, names in lexicographic order, no white space.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let required: &[&str] = match jwk.get("kty")?.as_str()? {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        _ => return None,
    };
    let mut members = BTreeMap::new();
    for &name in required {
        members.insert(name, jwk.get(name)?.as_str()?);
    }
    let canonical = serde_json::to_string(&members).ok()?;
    Some(sha256(canonical.as_bytes()))
}

/// Base64url SHA-256 of `text`: DPoP's `ath` of an access token (RFC 9449 section 4.2).
pub fn sha256_of(text: &str) -> String {
    sha256(text.as_bytes())
}

fn sha256(bytes: &[u8]) -> String {
    encode(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}
