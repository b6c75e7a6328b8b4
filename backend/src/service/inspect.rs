//! Inspect, for the service: a reference given as text is checked and parsed (naming the `ref`
//! field when it is not one) and inspected through a client bound by the allow-list and the
//! service's own credentials.

use super::{ServiceError, Services};
use crate::engine::{self, Inspection};
use crate::model::ErrorCode;
use crate::model::Reference;

impl Services {
    /// What a reference holds.
    pub async fn inspect(&self, text: &str) -> Result<Inspection, ServiceError> {
        let field = ("ref".to_owned(), text.into());
        super::input::refuse_nul(ErrorCode::InvalidReference, [field])?;
        let reference = Reference::parse(text.trim()).map_err(|e| {
            ServiceError::invalid(ErrorCode::InvalidReference, "ref", e.to_string())
        })?;
        Ok(engine::inspect(&self.registry(), &reference, false, true).await?)
    }
}
