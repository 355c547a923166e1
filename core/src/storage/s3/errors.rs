//! S3 answers sorted into the cases the protocol distinguishes. This is the
//! one place that reads the SDK's errors.

use super::redact::Secrets;
use crate::storage::{Cause, StoreError, StoreErrorKind};
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::error::Error as StdError;
use std::sync::Arc;

/// The S3 error codes that mean "no such object or version". A 404 without
/// one is not S3 speaking (a wrong endpoint): that is an error, never
/// "absent", or a misconfigured client would read an empty store.
pub(super) fn is_absent<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err.code(), Some("NoSuchKey" | "NoSuchVersion"))
}

/// The S3 error codes of a 403 that refuses the request's credentials, not
/// the action (their detail reads `HTTP 403 <code>: ...`, built below).
pub(crate) const REJECTED_CREDENTIALS: &[&str] = &[
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    // The request's signature date is too far from the server's clock.
    "RequestTimeTooSkewed",
];

/// The HTTP status of a service error (an answer was received).
pub(super) fn status<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(_) => err.raw_response().map(|r| r.status().as_u16()),
        _ => None,
    }
}

/// A [`StoreError`] for a failed SDK call.
pub(super) fn store_error<E>(
    secrets: &Secrets,
    bucket: &str,
    operation: &'static str,
    path: &str,
    err: SdkError<E, HttpResponse>,
) -> StoreError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().unwrap_or_default().to_string();
    let credentials = find_credentials_error(&err);
    let (kind, maybe_applied) = if credentials.is_some() {
        (StoreErrorKind::Credentials, false)
    } else {
        match &err {
            SdkError::ConstructionFailure(_) => (StoreErrorKind::Other, false),
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => (StoreErrorKind::Transient, true),
            _ => match status.unwrap_or(0) {
                // The object's state prevents reading it, not the request or
                // the caller: archived (Glacier), or encrypted with a
                // customer key that is not sent (SSE-C).
                _ if code == "InvalidObjectState" => (StoreErrorKind::Unreadable, false),
                400 if operation == "GetObject"
                    && matches!(code.as_str(), "InvalidRequest" | "InvalidArgument") =>
                {
                    (StoreErrorKind::Unreadable, false)
                }
                403 => (StoreErrorKind::AccessDenied, false),
                404 if code == "NoSuchBucket" => (StoreErrorKind::NoSuchBucket, false),
                404 if code.is_empty() => (StoreErrorKind::NotS3, false),
                408 | 429 | 500..=599 => (StoreErrorKind::Transient, true),
                400..=499 => (StoreErrorKind::BadRequest, false),
                _ => (StoreErrorKind::Other, true),
            },
        }
    };
    let detail = match (credentials, &err, status) {
        (Some(c), _, _) => chain(c),
        (None, SdkError::ServiceError(_), Some(s)) if !code.is_empty() => {
            let message = err.message().unwrap_or("no message");
            let id = err
                .meta()
                .extra("aws_request_id")
                .map(|id| format!(" (request id {id})"))
                .unwrap_or_default();
            format!("HTTP {s} {code}: {message}{id}")
        }
        (None, _, Some(404)) if kind == StoreErrorKind::NotS3 => {
            "HTTP 404 without an S3 error code: the endpoint does not look like an S3 server \
             (check overrides.endpointUrl)"
                .to_string()
        }
        (None, _, Some(s)) => format!("HTTP {s}: {}", chain(&err)),
        (None, _, None) => chain(&err),
    };
    StoreError {
        kind,
        operation,
        bucket: bucket.to_string(),
        path: path.to_string(),
        status,
        detail: secrets.redact(&detail),
        cause: Some(Arc::new(err) as Cause),
        maybe_applied,
    }
}

fn find_credentials_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a CredentialsError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(c);
        }
        cur = e.source();
    }
    None
}

/// An error and its sources, each by its Display: the cause without the
/// SDK's Debug dump of the raw response.
pub(super) fn chain(err: &dyn StdError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let next = s.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}
