//! A content digest, `algorithm:hex`: checked when made, so a digest read from a registry or a
//! request can go into a URL path or a database row without further care.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256, Sha512};

/// A well-formed digest: `sha256:` and 64, or `sha512:` and 128, lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// Why a text is not a digest, or content does not match one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The text is not `algorithm:hex`.
    #[error("{0}")]
    Malformed(String),
    /// Content hashed to another digest.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    Mismatch {
        /// The digest expected.
        expected: Digest,
        /// The digest of the content.
        actual: Digest,
    },
}

impl Digest {
    /// Checks and wraps `algorithm:hex`.
    pub fn parse(text: &str) -> Result<Self, DigestError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(DigestError::Malformed(format!(
                "digest \"{text}\" has no algorithm (expected sha256:<hex>)"
            )));
        };
        let want = match algorithm {
            "sha256" => 64,
            "sha512" => 128,
            _ => {
                return Err(DigestError::Malformed(format!(
                    "digest algorithm \"{algorithm}\" is not supported"
                )));
            }
        };
        if hex.len() != want || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(DigestError::Malformed(format!(
                "digest \"{text}\" must be {algorithm}: followed by {want} lower-case hex digits"
            )));
        }
        Ok(Self(text.to_owned()))
    }

    /// The sha256 digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// Checks that `bytes` hash to this digest, with this digest's algorithm.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), DigestError> {
        let actual = match self.algorithm() {
            "sha512" => Self(format!("sha512:{}", hex::encode(Sha512::digest(bytes)))),
            _ => Self::of(bytes),
        };
        if actual == *self {
            Ok(())
        } else {
            Err(DigestError::Mismatch {
                expected: self.clone(),
                actual,
            })
        }
    }

    /// `sha256` or `sha512`.
    pub fn algorithm(&self) -> &str {
        self.0.split_once(':').map_or("", |(a, _)| a)
    }

    /// The hex part.
    pub fn hex(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, h)| h)
    }

    /// The whole digest as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `sha256:` and the first 12 hex digits, for tables.
    pub fn short(&self) -> String {
        format!("{}:{}", self.algorithm(), &self.hex()[..12])
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, DigestError> {
        Self::parse(s)
    }
}

impl AsRef<str> for Digest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Digest {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Digest {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Digest {
    fn eq(&self, other: &String) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Digest> for String {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl PartialEq<Digest> for &str {
    fn eq(&self, other: &Digest) -> bool {
        *self == other.0
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Digest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A content digest, sha256:<64 hex digits>"))
            .examples([serde_json::json!(format!("sha256:{}", "7c2f".repeat(16)))])
            .into()
    }
}

impl utoipa::ToSchema for Digest {}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_digest_is_an_algorithm_and_the_right_number_of_lower_case_hex_digits() {
        let d = Digest::parse(&format!("sha256:{HEX}")).unwrap();
        assert_eq!(d.algorithm(), "sha256");
        assert_eq!(d.short(), "sha256:0123456789ab");
        for bad in [
            HEX.to_owned(),
            format!("md5:{HEX}"),
            format!("sha256:{}", &HEX[1..]),
            format!("sha256:{}", HEX.to_uppercase()),
            format!("sha256:{}/../x", &HEX[..60]),
        ] {
            assert!(Digest::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn content_is_verified_against_its_digest() {
        let d = Digest::of(b"hello");
        assert_eq!(
            d.as_str(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert!(d.verify(b"hello").is_ok());
        let err = d.verify(b"hullo").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("digest mismatch: expected sha256:2cf2"),
            "{err}"
        );
    }

    #[test]
    fn a_malformed_digest_in_json_is_refused_where_it_is_read() {
        let err = serde_json::from_str::<Digest>("\"sha256:../../etc\"").unwrap_err();
        assert!(
            err.to_string().contains("64 lower-case hex digits"),
            "{err}"
        );
    }
}
