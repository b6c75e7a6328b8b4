//! The serde helpers that check a platform field's value where it is read, so that errors carry
//! the value's line and column.

use std::fmt;

use serde::de::{self, Deserializer, Visitor};

use crate::model::platform::normalize::{WORD_CHARS, is_word};

/// Reads an optional string that must not be empty and must be a plain word.
pub(super) fn de_word<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionalText { word: true })
}

/// Reads an optional string; an empty one counts as not given.
pub(super) fn de_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    d.deserialize_option(OptionalText { word: false })
}

/// Validates inside the format's deserializer, so that errors carry the value's line and column.
#[derive(Clone, Copy)]
struct OptionalText {
    word: bool,
}

impl<'de> Visitor<'de> for OptionalText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let v = v.trim();
        if self.word && v.is_empty() {
            return Err(E::custom(
                "the value is empty; give one, or leave the key out to read it from the image config",
            ));
        }
        if self.word && !is_word(v) {
            return Err(E::custom(format!("\"{v}\" {WORD_CHARS}")));
        }
        Ok(Some(v.to_owned()).filter(|v| !v.is_empty()))
    }
}
