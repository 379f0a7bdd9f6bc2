//! Signing keys for OAuth: a service app's private key (RSA for RS256, P-256 EC for ES256) read from PEM
//! (PKCS#1, PKCS#8 or SEC1) or from a JWK, and the compact JWS encoding of JWTs signed with it. Keys never
//! print themselves. The tests check what is signed here with the simulator's verifier, which is written
//! apart from this module.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

/// A private key that signs JWTs.
pub enum SigningKey {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.alg())
    }
}

/// Why a private key cannot be used. The message never holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the JWK is not valid JSON")]
    JwkJson,
    #[error("not a PEM key (-----BEGIN ... PRIVATE KEY-----) or a JWK ({{...}})")]
    NotPemOrJwk,
    #[error("no private key found in the PEM text")]
    NoPemKey,
    #[error("{what} was refused{}", if why.is_empty() { String::new() } else { format!(": {why}") })]
    Refused { what: &'static str, why: String },
    #[error("the PKCS#8 key is neither RSA (2048 bits or more) nor EC P-256")]
    Pkcs8Kind,
    #[error(
        "the EC key (SEC1) has no public part; convert it with `openssl pkcs8 -topk8 -nocrypt`"
    )]
    Sec1NoPublic,
    #[error("only EC keys on P-256 (ES256) are supported")]
    NotP256,
    #[error("unsupported private key type")]
    Unsupported,
    #[error("the JWK has no usable \"{0}\"")]
    JwkField(&'static str),
    #[error("the JWK is neither kty RSA nor kty EC")]
    JwkKind,
}

impl SigningKey {
    /// Reads a key from PEM text or JWK JSON (the format is told by the first non-space character).
    /// Errors name the problem, never the key.
    pub fn parse(text: &str) -> Result<SigningKey, KeyError> {
        let t = text.trim_start();
        if t.starts_with('{') {
            let jwk: Value = serde_json::from_str(t).map_err(|_| KeyError::JwkJson)?;
            return Self::from_jwk(&jwk);
        }
        if !t.starts_with("-----BEGIN") {
            return Err(KeyError::NotPemOrJwk);
        }
        let der = PrivateKeyDer::from_pem_slice(t.as_bytes()).map_err(|_| KeyError::NoPemKey)?;
        let rng = SystemRandom::new();
        match der {
            PrivateKeyDer::Pkcs1(k) => RsaKeyPair::from_der(k.secret_pkcs1_der())
                .map(SigningKey::Rsa)
                .map_err(|e| KeyError::Refused {
                    what: "the RSA key (PKCS#1)",
                    why: e.to_string(),
                }),
            PrivateKeyDer::Pkcs8(k) => {
                let der = k.secret_pkcs8_der();
                if let Ok(rsa) = RsaKeyPair::from_pkcs8(der) {
                    return Ok(SigningKey::Rsa(rsa));
                }
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
                    .map(SigningKey::Ec)
                    .map_err(|_| KeyError::Pkcs8Kind)
            }
            PrivateKeyDer::Sec1(k) => {
                let (d, public) = sec1_parts(k.secret_sec1_der()).ok_or(KeyError::Sec1NoPublic)?;
                EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &public,
                    &rng,
                )
                .map(SigningKey::Ec)
                .map_err(|_| KeyError::NotP256)
            }
            _ => Err(KeyError::Unsupported),
        }
    }

    /// Reads a private JWK: `kty` RSA (with `n e d p q dp dq qi`) or EC P-256 (with `x y d`).
    pub fn from_jwk(jwk: &Value) -> Result<SigningKey, KeyError> {
        let field = |name: &'static str| -> Result<Vec<u8>, KeyError> {
            jwk.get(name)
                .and_then(Value::as_str)
                .and_then(unb64)
                .ok_or(KeyError::JwkField(name))
        };
        match jwk.get("kty").and_then(Value::as_str) {
            Some("RSA") => {
                let components = ring::rsa::KeyPairComponents {
                    public_key: signature::RsaPublicKeyComponents {
                        n: field("n")?,
                        e: field("e")?,
                    },
                    d: field("d")?,
                    p: field("p")?,
                    q: field("q")?,
                    dP: field("dp")?,
                    dQ: field("dq")?,
                    qInv: field("qi")?,
                };
                RsaKeyPair::from_components(&components)
                    .map(SigningKey::Rsa)
                    .map_err(|e| KeyError::Refused {
                        what: "the RSA JWK",
                        why: e.to_string(),
                    })
            }
            Some("EC") => {
                if jwk.get("crv").and_then(Value::as_str) != Some("P-256") {
                    return Err(KeyError::NotP256);
                }
                let mut public = vec![4u8];
                public.extend(field("x")?);
                public.extend(field("y")?);
                EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &field("d")?,
                    &public,
                    &SystemRandom::new(),
                )
                .map(SigningKey::Ec)
                .map_err(|_| KeyError::Refused {
                    what: "the EC JWK",
                    why: String::new(),
                })
            }
            _ => Err(KeyError::JwkKind),
        }
    }

    /// A fresh P-256 key, for DPoP proofs.
    pub fn generate_ec() -> SigningKey {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("key generation");
        SigningKey::Ec(
            EcdsaKeyPair::from_pkcs8(
                &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                pkcs8.as_ref(),
                &rng,
            )
            .expect("a key just generated"),
        )
    }

    pub fn alg(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "RS256",
            SigningKey::Ec(_) => "ES256",
        }
    }

    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match self {
            SigningKey::Rsa(k) => {
                let mut sig = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut sig)
                    .expect("RSA signing");
                sig
            }
            SigningKey::Ec(k) => k
                .sign(&rng, message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
        }
    }

    /// The public half as a JWK.
    pub fn public_jwk(&self) -> Value {
        match self {
            SigningKey::Rsa(k) => {
                let p: ring::rsa::PublicKeyComponents<Vec<u8>> = k.public().into();
                let trim = |b: &[u8]| {
                    let start = b
                        .iter()
                        .position(|&x| x != 0)
                        .unwrap_or(b.len().saturating_sub(1));
                    b[start..].to_vec()
                };
                json!({
                    "kty": "RSA",
                    "n": b64(&trim(&p.n)),
                    "e": b64(&trim(&p.e)),
                })
            }
            SigningKey::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": b64(&point[1..33]),
                    "y": b64(&point[33..65]),
                })
            }
        }
    }

    /// A compact JWS of `claims` with `header` (to which `alg` is added).
    pub fn jwt(&self, mut header: Value, claims: &Value) -> String {
        header["alg"] = json!(self.alg());
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let sig = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", b64(&sig))
    }
}

/// The private scalar and public point of a SEC1 `ECPrivateKey`.
fn sec1_parts(der: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    // ECPrivateKey ::= SEQUENCE { version INTEGER, privateKey OCTET STRING,
    //                             [0] parameters OPTIONAL, [1] publicKey BIT STRING OPTIONAL }
    let (tag, body, _) = der_item(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = der_item(body)?; // version
    let (tag, d, mut rest) = der_item(rest)?;
    if tag != 0x04 {
        return None;
    }
    while !rest.is_empty() {
        let (tag, inner, next) = der_item(rest)?;
        if tag == 0xA1 {
            let (tag, bits, _) = der_item(inner)?;
            if tag == 0x03 && bits.first() == Some(&0) {
                return Some((d.to_vec(), bits[1..].to_vec()));
            }
        }
        rest = next;
    }
    None
}

/// One DER item: (tag, contents, rest).
fn der_item(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (len, start) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7F) as usize;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *input.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, input.get(start..end)?, input.get(end..)?))
}

/// Base64url SHA-256, as DPoP's `ath` claim uses it.
pub fn sha256_b64(text: &str) -> String {
    b64(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use okta_org_simulator::jws::{thumbprint, verify};

    #[test]
    fn ec_keys_sign_and_verify_and_round_trip_through_jwk() {
        let key = SigningKey::generate_ec();
        let jwt = key.jwt(json!({"typ": "JWT"}), &json!({"sub": "x"}));
        let public = key.public_jwk();
        let (h, c) = verify(&jwt, &public).expect("valid signature");
        assert_eq!(
            (h["alg"].as_str(), c["sub"].as_str()),
            (Some("ES256"), Some("x"))
        );
        let mut tampered = jwt.clone();
        tampered.insert(jwt.find('.').unwrap() + 2, 'A');
        assert!(verify(&tampered, &public).is_none());
        assert!(verify(&jwt, &SigningKey::generate_ec().public_jwk()).is_none());
        assert_eq!(thumbprint(&public).unwrap().len(), 43);
        assert!(format!("{key:?}").contains("redacted"));
    }

    #[test]
    fn reads_every_fixture_format() {
        let rsa_pub: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/rsa-public.jwk.json")).unwrap();
        let ec_pub: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/ec-public.jwk.json")).unwrap();
        let cases = [
            (
                include_str!("../../tests/fixtures/rsa-pkcs1.pem"),
                &rsa_pub,
                "RS256",
            ),
            (
                include_str!("../../tests/fixtures/rsa-pkcs8.pem"),
                &rsa_pub,
                "RS256",
            ),
            (
                include_str!("../../tests/fixtures/rsa-private.jwk.json"),
                &rsa_pub,
                "RS256",
            ),
            (
                include_str!("../../tests/fixtures/ec-sec1.pem"),
                &ec_pub,
                "ES256",
            ),
            (
                include_str!("../../tests/fixtures/ec-pkcs8.pem"),
                &ec_pub,
                "ES256",
            ),
            (
                include_str!("../../tests/fixtures/ec-private.jwk.json"),
                &ec_pub,
                "ES256",
            ),
        ];
        for (text, public, alg) in cases {
            let key = SigningKey::parse(text).unwrap_or_else(|e| panic!("{alg}: {e}"));
            assert_eq!(key.alg(), alg);
            let jwt = key.jwt(json!({}), &json!({"a": 1}));
            assert!(verify(&jwt, public).is_some(), "{alg}");
            assert_eq!(thumbprint(&key.public_jwk()), thumbprint(public));
        }
    }

    #[test]
    fn refuses_what_is_not_a_key_without_echoing_it() {
        let e = SigningKey::parse("SECRET-NOT-A-KEY")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
        let e = SigningKey::parse("{\"kty\":\"oct\",\"k\":\"SECRET\"}")
            .unwrap_err()
            .to_string();
        assert!(!e.contains("SECRET"), "{e}");
        assert!(
            SigningKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .is_err()
        );
    }
}
