//! The ID token check, pure: a compact JWS, the keys of its issuer and the time now in, its claims
//! or the reason it is refused out. Only RS256 and ES256 are taken (never `none`, never an HMAC,
//! never an alg the key was not made for); `iss` must be the issuer's exactly, `aud` must name the
//! audience, `exp` and `nbf` hold within [`LEEWAY_SECS`]. Nothing here does I/O, and no error
//! holds the token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents, UnparsedPublicKey,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::TokenError;

/// Seconds a clock may be off: a token is taken this long after `exp` and before `nbf`.
pub const LEEWAY_SECS: i64 = 60;

/// A key of an issuer's JWKS document.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
pub struct Jwk {
    /// `RSA` or `EC`.
    pub kty: String,
    /// Its id, as tokens name it in their header.
    #[serde(default)]
    pub kid: Option<String>,
    /// The alg it is for, when the issuer says.
    #[serde(default)]
    pub alg: Option<String>,
    /// What it is for, when the issuer says: `sig` (signatures) or `enc` (encryption).
    #[serde(default, rename = "use")]
    pub usage: Option<String>,
    /// RSA: the modulus (base64url).
    #[serde(default)]
    pub n: Option<String>,
    /// RSA: the exponent (base64url).
    #[serde(default)]
    pub e: Option<String>,
    /// EC: the curve (`P-256`).
    #[serde(default)]
    pub crv: Option<String>,
    /// EC: the x coordinate (base64url).
    #[serde(default)]
    pub x: Option<String>,
    /// EC: the y coordinate (base64url).
    #[serde(default)]
    pub y: Option<String>,
}

/// A JWKS document: `{"keys": [...]}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// What a token must be for: its issuer and the audience it must name.
#[derive(Debug, Clone, Copy)]
pub struct Expect<'a> {
    /// The issuer, exactly as `iss` must say it.
    pub issuer: &'a str,
    /// The audience `aud` must name.
    pub audience: &'a str,
}

#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
}

/// A token taken apart, nothing checked yet.
pub(super) struct Parts<'a> {
    header: Header,
    /// Its claims.
    pub claims: Map<String, Value>,
    signed: &'a str,
    signature: Vec<u8>,
}

/// Takes a compact JWS apart: header, claims (both JSON objects), signature.
pub(super) fn parse(token: &str) -> Result<Parts<'_>, TokenError> {
    let malformed = |why: &str| TokenError::Malformed(why.to_owned());
    let mut pieces = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(malformed("it is not three base64url parts joined by dots"));
    };
    let decode = |part: &str, what: &str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| malformed(&format!("its {what} is not base64url")))
    };
    let header: Header = serde_json::from_slice(&decode(header, "header")?)
        .map_err(|_| malformed("its header is not a JSON object"))?;
    let claims: Map<String, Value> = serde_json::from_slice(&decode(claims, "payload")?)
        .map_err(|_| malformed("its payload is not a JSON object"))?;
    Ok(Parts {
        header,
        claims,
        signed: &token[..token.len() - signature.len() - 1],
        signature: decode(signature, "signature")?,
    })
}

/// The token's claims, when it is signed by one of `keys` with RS256 or ES256 and its `iss`,
/// `aud`, `exp` and `nbf` hold for `expect` at `now` (Unix seconds).
pub fn verify(
    token: &str,
    keys: &[Jwk],
    expect: Expect<'_>,
    now: i64,
) -> Result<Map<String, Value>, TokenError> {
    let parts = parse(token)?;
    let alg = parts.header.alg.as_deref().unwrap_or("none");
    if !matches!(alg, "RS256" | "ES256") {
        return Err(TokenError::Alg(alg.to_owned()));
    }
    let key = find_key(keys, parts.header.kid.as_deref(), alg)?;
    check_signature(key, alg, parts.signed.as_bytes(), &parts.signature)?;
    check_claims(&parts.claims, expect, now)?;
    Ok(parts.claims)
}

/// The key the header names (by `kid`; without one, the only key of the alg's type).
fn find_key<'k>(keys: &'k [Jwk], kid: Option<&str>, alg: &str) -> Result<&'k Jwk, TokenError> {
    let kty = if alg == "RS256" { "RSA" } else { "EC" };
    let key = match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.kid.as_deref() == Some(kid))
            .ok_or_else(|| TokenError::KeyUnknown(kid.to_owned()))?,
        None => {
            let mut fitting = keys.iter().filter(|k| k.kty == kty);
            match (fitting.next(), fitting.next()) {
                (Some(one), None) => one,
                _ => return Err(TokenError::KeyUnknown(String::new())),
            }
        }
    };
    let for_signatures = key.usage.as_deref().is_none_or(|u| u == "sig");
    if key.kty != kty || key.alg.as_deref().is_some_and(|a| a != alg) || !for_signatures {
        let usage = key.usage.as_deref().filter(|_| !for_signatures);
        return Err(TokenError::KeyMismatch {
            alg: alg.to_owned(),
            kty: usage.map_or_else(|| key.kty.clone(), |u| format!("{}, use {u}", key.kty)),
        });
    }
    Ok(key)
}

fn check_signature(
    key: &Jwk,
    alg: &str,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    let field = |value: &Option<String>, name: &str| {
        let bad = || TokenError::BadKey(format!("its `{name}` is missing or not base64url"));
        URL_SAFE_NO_PAD
            .decode(value.as_deref().ok_or_else(bad)?)
            .map_err(|_| bad())
    };
    let verified = if alg == "RS256" {
        let (n, e) = (field(&key.n, "n")?, field(&key.e, "e")?);
        RsaPublicKeyComponents { n: &n, e: &e }.verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signed,
            signature,
        )
    } else {
        if key.crv.as_deref() != Some("P-256") {
            return Err(TokenError::BadKey("its `crv` is not P-256".to_owned()));
        }
        let (x, y) = (field(&key.x, "x")?, field(&key.y, "y")?);
        if x.len() != 32 || y.len() != 32 {
            return Err(TokenError::BadKey(
                "its `x` or `y` is not 32 bytes".to_owned(),
            ));
        }
        let point = [&[4u8][..], &x, &y].concat();
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(signed, signature)
    };
    verified.map_err(|_| TokenError::Signature)
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: Expect<'_>,
    now: i64,
) -> Result<(), TokenError> {
    let iss = claims.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != expect.issuer {
        return Err(TokenError::Issuer(iss.to_owned()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !audiences.contains(&expect.audience) {
        return Err(TokenError::Audience {
            found: audiences.join(", "),
            expected: expect.audience.to_owned(),
        });
    }
    let time = |name: &'static str| {
        claims.get(name).map(|v| {
            v.as_f64()
                .map(|t| t as i64)
                .ok_or(TokenError::Missing(name))
        })
    };
    let exp = time("exp").ok_or(TokenError::Missing("exp"))??;
    if now > exp + LEEWAY_SECS {
        return Err(TokenError::Expired { ago: now - exp });
    }
    if let Some(nbf) = time("nbf").transpose()?
        && nbf > now + LEEWAY_SECS
    {
        return Err(TokenError::NotYet { in_secs: nbf - now });
    }
    Ok(())
}

#[cfg(test)]
#[path = "jwt_tests.rs"]
pub(super) mod tests;
