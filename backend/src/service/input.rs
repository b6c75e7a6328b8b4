//! The one rule every text a request brings meets, whichever adapter it came through and before
//! anything is stored or sent: it holds no NUL character (`\u0000`). PostgreSQL's `text` and
//! `jsonb` cannot hold one and SQLite can, so without this rule the same request would be a 500 on
//! one store and kept on the other; with it, both refuse it alike, naming the field it is in.

use std::borrow::Cow;

use super::{Edit, PageQuery, ServiceError, Submit};
use crate::model::ErrorCode;

/// The character no text may hold.
const NUL: char = '\0';

/// A text and the field it came in.
type Text<'a> = (String, Cow<'a, str>);

/// Refuses the first of `texts` that holds a NUL character, naming its field; `code` says what
/// kind of input they are (`INVALID_SPEC`, `INVALID_BODY`, `INVALID_QUERY`, …).
pub(super) fn refuse_nul<'a>(
    code: ErrorCode,
    texts: impl IntoIterator<Item = Text<'a>>,
) -> Result<(), ServiceError> {
    let Some((field, _)) = texts.into_iter().find(|(_, text)| text.contains(NUL)) else {
        return Ok(());
    };
    // A key may hold the NUL itself: the field's path shows it as JSON writes it.
    let field = field.replace(NUL, "\\u0000");
    let message = format!("{field} holds a NUL character (\\u0000), which no text may hold");
    Err(ServiceError::invalid(code, &field, message))
}

/// Refuses a whole document (a spec's text, a body) holding a NUL character outside its fields
/// (a comment, say), at the line and column of the first.
fn refuse_nul_in_document(code: ErrorCode, what: &str, text: &str) -> Result<(), ServiceError> {
    let Some(at) = text.find(NUL) else {
        return Ok(());
    };
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    Err(ServiceError::Invalid {
        code,
        message: format!("{what} holds a NUL character (\\u0000), which no text may hold"),
        field: None,
        line: Some(line),
        column: Some(column),
    })
}

/// A text that may be absent, as the field `name`.
fn named<'a>(name: &str, text: Option<&'a String>) -> Option<Text<'a>> {
    text.map(|t| (name.to_owned(), Cow::Borrowed(t.as_str())))
}

impl Submit {
    /// Every text of a list's submission: the spec's fields and text, the request's own options
    /// (the API's query) and its idempotency key.
    pub(super) fn refuse_nul(&self) -> Result<(), ServiceError> {
        let spec = &self.submission;
        let own_callback = named("callback_url", spec.options.callback_url.as_ref());
        refuse_nul(
            ErrorCode::InvalidSpec,
            spec.spec.texts().into_iter().chain(own_callback),
        )?;
        refuse_nul_in_document(ErrorCode::InvalidSpec, "the spec", &self.text)?;
        let callback = named("callback_url", self.asked.callback_url.as_ref());
        refuse_nul(ErrorCode::InvalidQuery, callback)?;
        let key = named("Idempotency-Key", self.idempotency_key.as_ref());
        refuse_nul(ErrorCode::InvalidHeader, key)
    }
}

impl Edit {
    /// Every text of a removal or a copy: its body's fields and text, and its idempotency key.
    pub(super) fn refuse_nul(&self) -> Result<(), ServiceError> {
        let callback = named("callback_url", self.asked.callback_url.as_ref());
        refuse_nul(
            ErrorCode::InvalidBody,
            self.work.texts().into_iter().chain(callback),
        )?;
        refuse_nul_in_document(ErrorCode::InvalidBody, "the body", &self.text)?;
        let key = named("Idempotency-Key", self.idempotency_key.as_ref());
        refuse_nul(ErrorCode::InvalidHeader, key)
    }
}

impl PageQuery {
    /// The filter and the cursor.
    pub(super) fn refuse_nul(&self) -> Result<(), ServiceError> {
        let target = named("target", self.target.as_ref());
        let cursor = named("cursor", self.cursor.as_ref());
        refuse_nul(ErrorCode::InvalidQuery, target.into_iter().chain(cursor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(field: &str, text: &str) -> Text<'static> {
        (field.to_owned(), Cow::Owned(text.to_owned()))
    }

    #[test]
    fn the_first_text_holding_a_nul_is_refused_naming_its_field() {
        let texts = [
            owned("image", "r.io/a:v1"),
            owned("manifests[1].annotations.org.example", "a\0b"),
            owned("target", "\0"),
        ];
        let err = refuse_nul(ErrorCode::InvalidSpec, texts).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidSpec);
        assert_eq!(err.field(), Some("manifests[1].annotations.org.example"));
        assert!(err.message().contains("NUL"), "{}", err.message());
        assert!(refuse_nul(ErrorCode::InvalidSpec, [owned("image", "r.io/a:v1")]).is_ok());
    }

    #[test]
    fn a_nul_in_a_key_shows_escaped_in_the_field_and_one_in_a_document_by_its_place() {
        let err =
            refuse_nul(ErrorCode::InvalidBody, [owned("annotations.a\0b", "a\0b")]).unwrap_err();
        assert_eq!(err.field(), Some("annotations.a\\u0000b"));
        let err =
            refuse_nul_in_document(ErrorCode::InvalidSpec, "the spec", "a: 1\nb: x\0").unwrap_err();
        assert_eq!(err.position(), (Some(2), Some(5)));
        assert_eq!(err.field(), None);
        assert!(refuse_nul_in_document(ErrorCode::InvalidSpec, "the spec", "a: 1").is_ok());
    }
}
