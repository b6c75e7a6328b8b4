//! The one error type of spec handling: what is wrong, in which field, and where in the text.
//!
//! Field paths use the spec's own key names (`image`, `tags[2]`, `manifests[1].platform`,
//! `annotations`, or a flag such as `--platforms` for the from-args form); line and column are
//! 1-based and present when the spec was read from YAML or JSON text.

use std::fmt;

use serde::Serialize;

/// A spec that cannot be used, found before any network call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub struct SpecError {
    /// The field at fault, as a path of the spec's keys (`manifests[1].platform.architecture`).
    pub field: Option<String>,
    /// The line in the spec text (1-based).
    pub line: Option<usize>,
    /// The column in the spec text (1-based).
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error about the spec as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        SpecError {
            field: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// An error about one field.
    pub fn in_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        SpecError {
            field: Some(field.into()),
            ..SpecError::new(message)
        }
    }

    /// The same error, placed at a line and column of the text.
    pub fn at(self, line: usize, column: usize) -> Self {
        SpecError {
            line: Some(line),
            column: Some(column),
            ..self
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " (line {line}, column {column})"),
            (Some(line), None) => write!(f, " (line {line})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_field_message_and_location() {
        let err = SpecError::in_field("manifests[1].platform.architecture", "the value is empty")
            .at(7, 5);

        let text = err.to_string();

        assert_eq!(
            text,
            "manifests[1].platform.architecture: the value is empty (line 7, column 5)"
        );
    }

    #[test]
    fn display_leaves_out_what_is_not_known() {
        let err = SpecError::new("the spec is larger than 4 MiB");

        assert_eq!(err.to_string(), "the spec is larger than 4 MiB");
        assert_eq!(
            SpecError::in_field("--platforms", "no platform given").to_string(),
            "--platforms: no platform given"
        );
    }

    #[test]
    fn serializes_as_an_object_with_all_four_keys() {
        let err = SpecError::in_field("image", "bad").at(1, 8);

        let json = serde_json::to_value(&err).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"field": "image", "line": 1, "column": 8, "message": "bad"})
        );
    }
}
