//! The S3 implementation of [`Store`](crate::storage::Store), on aws-sdk-s3.
//!
//! - `store.rs`: the operations
//! - `errors.rs`: the SDK's answers sorted into the protocol's cases
//! - `credentials.rs`: where credentials come from, checked before use
//! - `redact.rs`: secrets kept out of every error text

mod credentials;
pub(crate) mod errors;
mod redact;
mod store;

pub use credentials::{
    CredentialSource, CredentialsFn, CredentialsFuture, FunctionFailed, KeyPair, ProviderError,
    FUNCTION_REFRESH,
};
pub use store::S3Store;

use std::time::Duration;

/// How to reach one bucket.
#[derive(Clone, Debug)]
pub struct S3Settings {
    pub bucket: String,
    /// `None`: from the environment (`AWS_REGION`, `AWS_DEFAULT_REGION`, the
    /// profile's `region`), see [`resolve_region`].
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    /// Defaults to true when `endpoint_url` is set (local servers), else false.
    pub force_path_style: Option<bool>,
    pub credentials: CredentialSource,
    /// When set, every PUT asks for SSE-KMS with this key.
    pub kms_key_id: Option<String>,
    /// One HTTP attempt, connecting included.
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

impl S3Settings {
    /// Settings for `bucket` with every default (see [`crate::defaults`]).
    pub fn new(bucket: impl Into<String>) -> S3Settings {
        S3Settings {
            bucket: bucket.into(),
            region: None,
            endpoint_url: None,
            force_path_style: None,
            credentials: CredentialSource::DefaultChain,
            kms_key_id: None,
            request_timeout: crate::defaults::REQUEST_TIMEOUT,
            connect_timeout: crate::defaults::CONNECT_TIMEOUT,
        }
    }
}

/// The region from the usual AWS places: `AWS_REGION`, `AWS_DEFAULT_REGION`,
/// then the `region` of the profile (`AWS_PROFILE`, else `default`) in the
/// shared config files. Never asks the instance metadata service (it would
/// stall for seconds off EC2).
pub fn resolve_region() -> Option<String> {
    for var in ["AWS_REGION", "AWS_DEFAULT_REGION"] {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return Some(v.trim().to_string());
            }
        }
    }
    // The profile files are read by aws-config's async loader; run it on a
    // thread of its own so that this works inside or outside a runtime.
    std::thread::spawn(|| {
        let rt = tokio::runtime::Builder::new_current_thread().build().ok()?;
        rt.block_on(async {
            use aws_config::meta::region::ProvideRegion;
            aws_config::profile::ProfileFileRegionProvider::builder()
                .build()
                .region()
                .await
                .map(|r| r.to_string())
        })
    })
    .join()
    .ok()
    .flatten()
}
