//! Who may use the service: API tokens, kept as SHA-256 hashes and compared in constant time, and
//! the pages' sessions.
//!
//! A page session is a stateless cookie value: the token's index, an expiry and an HMAC of both
//! keyed with the token's stored hash. It never holds the token or its hash, works across
//! processes, and ends when the token is removed. The HTTP adapters decide which requests need
//! what; this module only says whether a token or a session is valid.

use hmac::{KeyInit as _, Mac as _};
use sha2::Digest as _;

/// SHA-256 of a token, hex.
pub fn hash_token(token: &str) -> String {
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A configured token entry as a hash: `sha256:<hex>` entries are kept, plain tokens hashed.
pub fn hash_token_entry(entry: &str) -> anyhow::Result<String> {
    match entry.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(hex.to_ascii_lowercase())
        }
        Some(_) => anyhow::bail!("an API token entry starting sha256: must have 64 hex digits"),
        None => Ok(hash_token(entry)),
    }
}

/// Whether `token` hashes to one of `hashes`, comparing every byte of each.
pub fn token_valid(hashes: &[String], token: &str) -> bool {
    token_index(hashes, token).is_some()
}

/// Which of `hashes` `token` hashes to, comparing every byte of each.
pub fn token_index(hashes: &[String], token: &str) -> Option<usize> {
    let candidate = hash_token(token);
    hashes.iter().enumerate().fold(None, |found, (i, h)| {
        let same = h.len() == candidate.len()
            && h.bytes()
                .zip(candidate.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if same { Some(i) } else { found }
    })
}

/// The cookie a signed-in page session lives in.
pub const SESSION_COOKIE: &str = "manifold_session";

/// How long a page session lasts, in seconds (12 hours).
pub const SESSION_SECS: i64 = 12 * 60 * 60;

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The session cookie's value for the token at `index` of `hashes`, valid until `expiry`
/// (Unix seconds): `"{index}.{expiry}.{hex HMAC-SHA256(key = the token's hash, index.expiry)}"`.
pub fn session_value(hashes: &[String], index: usize, expiry: i64) -> Option<String> {
    let key = hashes.get(index)?;
    let message = format!("{index}.{expiry}");
    let tag = session_mac(key, &message).finalize().into_bytes();
    Some(format!("{message}.{}", hex::encode(tag)))
}

/// Whether a session cookie's value was made by [`session_value`] for a configured token and has
/// not expired at `now`; the tag is compared in constant time.
pub fn session_valid(hashes: &[String], value: &str, now: i64) -> bool {
    let mut parts = value.splitn(3, '.');
    let (Some(index), Some(expiry), Some(tag)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let (Ok(i), Ok(exp), Ok(tag)) = (
        index.parse::<usize>(),
        expiry.parse::<i64>(),
        hex::decode(tag),
    ) else {
        return false;
    };
    let Some(key) = hashes.get(i) else {
        return false;
    };
    exp > now
        && exp <= now + SESSION_SECS
        && session_mac(key, &format!("{i}.{exp}"))
            .verify_slice(&tag)
            .is_ok()
}

/// The CSRF token of the page forms of a session: bound to it (an HMAC of the session's value
/// keyed with its token's hash), so a token planted in a cookie is worth nothing without the
/// session. `None` for a value that names no configured token.
pub fn session_csrf(hashes: &[String], session: &str) -> Option<String> {
    let index: usize = session.split('.').next()?.parse().ok()?;
    let key = hashes.get(index)?;
    let tag = session_mac(key, &format!("csrf.{session}"))
        .finalize()
        .into_bytes();
    Some(hex::encode(tag))
}

fn session_mac(key: &str, message: &str) -> hmac::Hmac<sha2::Sha256> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(message.as_bytes());
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_valid_only_when_its_hash_is_configured() {
        let hashes = vec![hash_token("right")];
        assert!(token_valid(&hashes, "right"));
        assert!(!token_valid(&hashes, "wrong"));
        assert!(!token_valid(&[], "right"));
    }

    #[test]
    fn a_session_names_its_token_and_holds_neither_the_token_nor_its_hash() {
        let hashes = vec![hash_token("a"), hash_token("b")];

        let value = session_value(&hashes, 1, 1_000).unwrap();

        assert!(value.starts_with("1.1000."), "{value}");
        assert!(!value.contains(&hashes[0]) && !value.contains(&hashes[1]));
        assert!(session_valid(&hashes, &value, 999));
        assert_eq!(token_index(&hashes, "b"), Some(1));
    }

    #[test]
    fn a_session_s_csrf_token_belongs_to_that_session_alone() {
        let hashes = vec![hash_token("a"), hash_token("b")];
        let one = session_value(&hashes, 0, 1_000).unwrap();
        let other = session_value(&hashes, 0, 2_000).unwrap();

        let token = session_csrf(&hashes, &one).unwrap();

        assert_eq!(token.len(), 64);
        assert_eq!(session_csrf(&hashes, &one), Some(token.clone()));
        assert_ne!(session_csrf(&hashes, &other), Some(token.clone()));
        assert_ne!(session_csrf(&hashes[1..], &one), Some(token));
        assert_eq!(session_csrf(&hashes, "junk"), None);
    }

    #[test]
    fn a_session_is_refused_when_expired_forged_or_its_token_is_gone() {
        let hashes = vec![hash_token("a"), hash_token("b")];
        let value = session_value(&hashes, 0, 1_000).unwrap();

        assert!(!session_valid(&hashes, &value, 1_000), "expired");
        let forged = value.replacen("0.1000", "0.9999", 1);
        assert!(!session_valid(&hashes, &forged, 999), "expiry changed");
        let other = value.replacen("0.", "1.", 1);
        assert!(!session_valid(&hashes, &other, 999), "index changed");
        assert!(!session_valid(&hashes[1..], &value, 999), "token removed");
        assert!(!session_valid(&hashes, "0.1000", 999));
        assert!(!session_valid(&hashes, "junk", 999));
        let far = session_value(&hashes, 0, 999 + SESSION_SECS + 1).unwrap();
        assert!(
            !session_valid(&hashes, &far, 999),
            "longer than a session lasts"
        );
    }
}
