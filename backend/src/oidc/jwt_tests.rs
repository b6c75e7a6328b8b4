//! The pure token check, with a P-256 key made here: what it takes and each reason it refuses.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use super::*;

const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://issuer.test";

/// A P-256 key to sign test tokens with.
pub(crate) struct Signer {
    key: EcdsaKeyPair,
}

impl Signer {
    pub(crate) fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Self { key }
    }

    pub(crate) fn jwk(&self, kid: &str) -> Jwk {
        let point = self.key.public_key().as_ref();
        Jwk {
            kty: "EC".to_owned(),
            kid: Some(kid.to_owned()),
            alg: Some("ES256".to_owned()),
            crv: Some("P-256".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(&point[1..33])),
            y: Some(URL_SAFE_NO_PAD.encode(&point[33..])),
            ..Jwk::default()
        }
    }

    pub(crate) fn token(&self, header: Value, claims: Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": ["other", "manifold"], "sub": "repo:o/r", "exp": NOW + 300, "nbf": NOW - 5})
}

fn es256() -> Value {
    json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})
}

fn check(
    token: &str,
    keys: &[Jwk],
    now: i64,
) -> Result<serde_json::Map<String, Value>, TokenError> {
    let expect = Expect {
        issuer: ISSUER,
        audience: "manifold",
    };
    verify(token, keys, expect, now)
}

fn with(changes: Value) -> Value {
    let mut c = claims();
    for (k, v) in changes.as_object().unwrap() {
        c[k] = v.clone();
    }
    c
}

#[test]
fn an_es256_token_of_the_issuer_for_the_audience_gives_its_claims() {
    let signer = Signer::new();
    let keys = [signer.jwk("k1")];

    let taken = check(&signer.token(es256(), claims()), &keys, NOW).unwrap();
    let within_leeway = check(
        &signer.token(es256(), claims()),
        &keys,
        NOW + 300 + LEEWAY_SECS,
    );

    assert_eq!(taken["sub"], "repo:o/r");
    assert!(within_leeway.is_ok());
}

#[test]
fn times_audience_and_issuer_are_refused_each_naming_the_claim() {
    let signer = Signer::new();
    let keys = [signer.jwk("k1")];
    let refused =
        |claims: Value, now: i64| check(&signer.token(es256(), claims), &keys, now).unwrap_err();

    assert_eq!(
        refused(claims(), NOW + 300 + LEEWAY_SECS + 1),
        TokenError::Expired {
            ago: LEEWAY_SECS + 1
        }
    );
    assert_eq!(
        refused(with(json!({"nbf": NOW + 600})), NOW),
        TokenError::NotYet { in_secs: 600 }
    );
    assert_eq!(
        refused(with(json!({"exp": "soon"})), NOW),
        TokenError::Missing("exp")
    );
    assert_eq!(
        refused(with(json!({"aud": "manifold-x"})), NOW).to_string(),
        "the ID token's aud `manifold-x` does not name this service's audience `manifold`"
    );
    assert_eq!(
        refused(with(json!({"iss": "https://issuer.test/"})), NOW),
        TokenError::Issuer("https://issuer.test/".to_owned())
    );
}

#[test]
fn alg_none_hmac_and_a_key_of_another_type_are_refused_before_any_signature_is_trusted() {
    let signer = Signer::new();
    let keys = [signer.jwk("k1")];
    let good = signer.token(es256(), claims());
    let (_, rest) = good.split_once('.').unwrap();
    let reheaded = |header: Value| format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));

    let none = check(&reheaded(json!({"alg": "none", "kid": "k1"})), &keys, NOW);
    let hs = check(&reheaded(json!({"alg": "HS256", "kid": "k1"})), &keys, NOW);
    let rs = check(&reheaded(json!({"alg": "RS256", "kid": "k1"})), &keys, NOW);
    let absent = check(&reheaded(json!({"kid": "k1"})), &keys, NOW);

    assert_eq!(none.unwrap_err(), TokenError::Alg("none".to_owned()));
    assert_eq!(hs.unwrap_err(), TokenError::Alg("HS256".to_owned()));
    assert_eq!(
        rs.unwrap_err(),
        TokenError::KeyMismatch {
            alg: "RS256".to_owned(),
            kty: "EC".to_owned()
        }
    );
    assert_eq!(absent.unwrap_err(), TokenError::Alg("none".to_owned()));
    let mut encryption = signer.jwk("k1");
    encryption.usage = Some("enc".to_owned());
    assert!(matches!(
        check(&good, &[encryption], NOW),
        Err(TokenError::KeyMismatch { .. })
    ));
}

#[test]
fn a_tampered_payload_another_key_and_an_unknown_kid_are_refused() {
    let (signer, stranger) = (Signer::new(), Signer::new());
    let keys = [signer.jwk("k1")];
    let good = signer.token(es256(), claims());
    let parts: Vec<&str> = good.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(with(json!({"sub": "repo:evil/r"})).to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);

    assert_eq!(
        check(&tampered, &keys, NOW).unwrap_err(),
        TokenError::Signature
    );
    assert_eq!(
        check(&stranger.token(es256(), claims()), &keys, NOW).unwrap_err(),
        TokenError::Signature
    );
    let unknown = signer.token(json!({"alg": "ES256", "kid": "k9"}), claims());
    assert_eq!(
        check(&unknown, &keys, NOW).unwrap_err(),
        TokenError::KeyUnknown("k9".to_owned())
    );
    assert!(matches!(
        check("a.b", &keys, NOW),
        Err(TokenError::Malformed(_))
    ));
    assert!(matches!(
        check("!!.e30.", &keys, NOW),
        Err(TokenError::Malformed(_))
    ));
}

#[test]
fn without_a_kid_the_only_key_of_the_alg_s_type_is_used() {
    let signer = Signer::new();
    let rsa = Jwk {
        kty: "RSA".to_owned(),
        kid: Some("r1".to_owned()),
        ..Jwk::default()
    };
    let token = signer.token(json!({"alg": "ES256"}), claims());

    assert!(check(&token, &[rsa.clone(), signer.jwk("k1")], NOW).is_ok());
    assert!(matches!(
        check(&token, &[signer.jwk("a"), signer.jwk("b")], NOW),
        Err(TokenError::KeyUnknown(_))
    ));
}
