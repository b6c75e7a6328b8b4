//! `repair`: whether the watch keeps a list whole — off (`false`), its children made present
//! again (`true`), or its tag put back too when another writer moved it (`"tag"`). Written as
//! `false`, `true` or `"tag"` everywhere (spec, API, store); a query's or a form's `"true"` and
//! `"false"` read as the booleans.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the watch does when it finds a list no longer whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Repair {
    /// Only reported (`false`, the default).
    #[default]
    Off,
    /// Children missing from the target repository made present again, and the tag re-PUT when
    /// it moved to a list manifold pushed (`true`).
    Children,
    /// As `Children`, and the tag put back whoever moved it (`"tag"`).
    Tag,
}

impl Repair {
    /// Whether anything is repaired.
    pub fn is_on(self) -> bool {
        self != Repair::Off
    }
}

// Documented as what it is written as: a boolean, or the word `tag`.
impl utoipa::PartialSchema for Repair {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["tag"])),
            )
            .description(Some(
                "`false` (the default), `true` (children made present again) or `\"tag\"` (and \
                 the tag put back whoever moved it)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Repair {}

impl Serialize for Repair {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Repair::Off => s.serialize_bool(false),
            Repair::Children => s.serialize_bool(true),
            Repair::Tag => s.serialize_str("tag"),
        }
    }
}

impl<'de> Deserialize<'de> for Repair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Asked;
        impl Visitor<'_> for Asked {
            type Value = Repair;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("false, true or \"tag\"")
            }
            fn visit_bool<E: de::Error>(self, on: bool) -> Result<Repair, E> {
                Ok(if on { Repair::Children } else { Repair::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Repair, E> {
                match v {
                    "true" | "on" => Ok(Repair::Children),
                    "false" | "off" => Ok(Repair::Off),
                    "tag" => Ok(Repair::Tag),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(Asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repair_reads_and_writes_false_true_and_tag_and_refuses_other_words() {
        for (text, want) in [
            ("false", Repair::Off),
            ("true", Repair::Children),
            ("\"tag\"", Repair::Tag),
        ] {
            let read: Repair = serde_json::from_str(text).unwrap();
            assert_eq!(read, want);
            assert_eq!(serde_json::to_string(&read).unwrap(), text);
        }
        assert_eq!(
            serde_json::from_str::<Repair>("\"true\"").unwrap(),
            Repair::Children
        );
        let wrong = serde_json::from_str::<Repair>("\"always\"").unwrap_err();
        assert!(wrong.to_string().contains("\"tag\""), "{wrong}");
    }
}
