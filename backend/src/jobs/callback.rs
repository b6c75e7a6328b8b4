//! The callback job: POST the finished list to the submitter's URL, signed with HMAC-SHA256 of the
//! body (`X-Manifold-Signature: sha256=<hex>`) when a secret is configured; retried with backoff.

use chrono::Utc;
use hmac::{KeyInit as _, Mac as _};

use super::Context;
use crate::db::ClaimedJob;
use crate::resource::ListResource;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Manifold-Signature";

pub(super) async fn run(context: &Context, job: &ClaimedJob) {
    let result = deliver(context, job).await;
    let retry_at = match &result {
        Err((_, true)) if job.attempt < job.max_attempts => {
            Some(Utc::now() + context.config.job_retry().delay(job.attempt as u32))
        }
        _ => None,
    };
    let outcome = result.as_ref().map(|_| ()).map_err(|(e, _)| e.as_str());
    if let Err(e) = &outcome {
        tracing::warn!(list = %job.list_id, attempt = job.attempt, "callback failed: {e}");
    }
    if let Err(e) = context.store.record_callback(job, outcome, retry_at).await {
        tracing::error!("cannot record the callback of list {}: {e}", job.list_id);
    }
}

/// Sends the callback; the error says whether trying again may help.
async fn deliver(context: &Context, job: &ClaimedJob) -> Result<(), (String, bool)> {
    let Some(url) = &job.callback_url else {
        return Ok(());
    };
    if !context.config.callback_allowed(url) {
        return Err((
            format!("callbacks to {url} are not allowed by MANIFOLD_CALLBACK_HOSTS"),
            false,
        ));
    }
    let list = match context.store.get_list(job.list_id).await {
        Ok(Some(list)) => list,
        Ok(None) => return Err(("the list no longer exists".to_owned(), false)),
        Err(e) => return Err((format!("cannot read the list: {e}"), true)),
    };
    let body = serde_json::to_vec(&ListResource::from(&list)).expect("a resource serialises");
    let mut request = context
        .http
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Manifold-Event", "list.finished")
        .header(
            "X-Manifold-Delivery",
            format!("{}-{}", job.list_id, job.attempt),
        );
    if let Some(secret) = &context.config.callback_secret {
        request = request.header(SIGNATURE_HEADER, sign(secret.expose(), &body));
    }
    match request.body(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status().as_u16();
            Err((
                format!("{url} answered {status}"),
                status == 429 || status >= 500,
            ))
        }
        Err(e) => Err((format!("{url}: {}", crate::registry::error_chain(&e)), true)),
    }
}

/// `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
