//! The callback job: POST the finished list to the submitter's URL, signed with HMAC-SHA256 of the
//! body (`X-Manifold-Signature: sha256=<hex>`) when a secret is configured; retried with backoff.

use hmac::{KeyInit as _, Mac as _};

use super::outcome::Failure;
use crate::model::ErrorCode;
use crate::service::{ListResource, Services};
use crate::store::ClaimedJob;

/// Header carrying the signature.
pub const SIGNATURE_HEADER: &str = "X-Manifold-Signature";

/// Delivers the job's callback and records how it went.
pub(super) async fn run(services: &Services, job: &ClaimedJob) {
    let result = deliver(services, job).await;
    record(services, job, result).await;
}

/// Records a delivery: delivered, retried after a backoff, or failed for good.
pub(super) async fn record(services: &Services, job: &ClaimedJob, result: Result<(), Failure>) {
    let retry_at = match &result {
        Err(f) if f.may_pass() && job.attempt < job.max_attempts => Some(
            services.store.clock().now()
                + services
                    .settings
                    .job_retry()
                    .delay(job.attempt.max(1) as u32),
        ),
        _ => None,
    };
    let outcome = result.as_ref().map(|_| ()).map_err(Failure::message);
    if let Err(e) = &outcome {
        tracing::warn!("callback failed: {e}");
    }
    super::record(job, || {
        services.store.record_callback(job, outcome, retry_at)
    })
    .await;
}

/// Sends the callback.
async fn deliver(services: &Services, job: &ClaimedJob) -> Result<(), Failure> {
    let Some(url) = &job.options.callback_url else {
        return Ok(());
    };
    if !services.settings.callback_allowed(url) {
        return Err(Failure::fatal(
            ErrorCode::CallbackNotAllowed,
            format!("callbacks to {url} are not allowed by MANIFOLD_CALLBACK_HOSTS"),
        ));
    }
    let list = match services.store.get_list(job.list_id).await {
        Ok(Some(list)) => list,
        Ok(None) => {
            return Err(Failure::fatal(
                ErrorCode::NotFound,
                "the list no longer exists",
            ));
        }
        Err(e) => {
            return Err(Failure::retryable(
                ErrorCode::Internal,
                format!("cannot read the list: {e}"),
            ));
        }
    };
    let event = list
        .callback_event
        .clone()
        .unwrap_or_else(|| "list.finished".to_owned());
    let body = serde_json::to_vec(&ListResource::from(list))
        .map_err(|e| Failure::fatal(ErrorCode::Internal, e.to_string()))?;
    let mut request = services
        .callbacks
        .post(url)
        .header("Content-Type", "application/json")
        .header("X-Manifold-Event", event)
        .header(
            "X-Manifold-Delivery",
            format!("{}-{}", job.list_id, job.attempt),
        );
    if let Some(secret) = services.settings.callback_secret() {
        request = request.header(SIGNATURE_HEADER, sign(secret.expose(), &body));
    }
    match request.body(body).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => {
            let status = r.status().as_u16();
            let message = format!("{url} answered {status}");
            if status == 429 || status >= 500 {
                Err(Failure::retryable(ErrorCode::Http(status), message))
            } else {
                Err(Failure::fatal(ErrorCode::Http(status), message))
            }
        }
        Err(e) => Err(Failure::retryable(
            ErrorCode::Other("CALLBACK_UNREACHABLE".to_owned()),
            format!("{url}: {}", crate::registry::error_chain(&e)),
        )),
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
