//! Protocol settings and their rules (the S3 connection is configured in
//! [`S3Settings`](crate::storage::s3::S3Settings)). Defaults live in
//! [`crate::defaults`].

use crate::bucket::{LockRule, MAX_LOCK_DAYS};
use crate::defaults;
use crate::error::{Error, Result};
use crate::storage::s3::S3Settings;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Options {
    /// Prepended verbatim to every object path (`""` allowed).
    pub prefix: String,
    /// Readers look for and repair an orphan head at most this often.
    pub repair_check_interval: Duration,
    /// Never write anything, not even a repair.
    pub read_only: bool,
    /// Budget of one call, retries included; no call takes longer.
    pub operation_timeout: Duration,
    /// Object reads in flight at once in `history`, `log_entries`, `verify_log`.
    pub read_concurrency: usize,
    /// Objects per list request (S3 caps it at 1000).
    pub list_page_size: u32,
    /// Largest value accepted by `set`, as canonical JSON bytes.
    pub max_value_bytes: usize,
    /// Log PUTs this client may send before the key objects of its earlier
    /// entries are written (1: the shared protocol). Above 1, orphans may sit
    /// below the head (docs/PROTOCOL.md, "Pipelined writes"): for stores
    /// that only clients of this package write and read.
    pub pipeline_depth: u32,
    /// Every log and key-object write is locked (S3 Object Lock) in this
    /// mode for this many days; the bucket must have Object Lock. `None`:
    /// writes carry no retention of their own (a bucket's default rule
    /// still applies).
    pub object_lock: Option<LockRule>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            prefix: String::new(),
            repair_check_interval: defaults::REPAIR_CHECK_INTERVAL,
            read_only: false,
            operation_timeout: defaults::OPERATION_TIMEOUT,
            read_concurrency: defaults::READ_CONCURRENCY,
            list_page_size: defaults::LIST_PAGE_SIZE,
            max_value_bytes: defaults::MAX_VALUE_BYTES,
            pipeline_depth: defaults::PIPELINE_DEPTH,
            object_lock: None,
        }
    }
}

impl Options {
    pub(crate) fn check(&self) -> Result<()> {
        if self.read_concurrency == 0 || self.read_concurrency > 256 {
            return Err(Error::invalid_config(
                "readConcurrency must be between 1 and 256",
            ));
        }
        if self.list_page_size == 0 || self.list_page_size > 1000 {
            return Err(Error::invalid_config(
                "listPageSize must be between 1 and 1000",
            ));
        }
        if self.max_value_bytes == 0 || self.max_value_bytes > defaults::MAX_VALUE_BYTES_LIMIT {
            return Err(Error::invalid_config(format!(
                "maxValueBytes must be between 1 and {} (every client reads stored objects of up \
                 to 64 MiB, so that what one writes all can read)",
                defaults::MAX_VALUE_BYTES_LIMIT
            )));
        }
        if self.pipeline_depth == 0 || self.pipeline_depth > defaults::MAX_PIPELINE_DEPTH {
            return Err(Error::invalid_config(format!(
                "pipelineDepth must be between 1 and {}",
                defaults::MAX_PIPELINE_DEPTH
            )));
        }
        if self.operation_timeout.is_zero() {
            return Err(Error::invalid_config("operationTimeoutMs must be positive"));
        }
        if let Some(lock) = &self.object_lock {
            if lock.days == 0 || lock.days > MAX_LOCK_DAYS {
                return Err(Error::invalid_config(format!(
                    "objectLock.days must be between 1 and {MAX_LOCK_DAYS}, got {}",
                    lock.days
                )));
            }
        }
        Ok(())
    }
}

/// The S3 settings that can be checked without a request.
pub(crate) fn check_s3(s: &S3Settings) -> Result<()> {
    if s.bucket.is_empty() {
        return Err(Error::invalid_config(
            "s3Bucket must be a non-empty bucket name",
        ));
    }
    if s.bucket.contains('/')
        || s.bucket
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid_config(format!(
            "s3Bucket {:?} is not a bucket name",
            s.bucket
        )));
    }
    if s.region.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(Error::invalid_config(
            "s3Region must be a non-empty region name, e.g. us-east-1 (or leave it out to use AWS_REGION)",
        ));
    }
    if let Some(url) = &s.endpoint_url {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
        if host.is_none_or(|h| {
            h.is_empty()
                || h.contains('@')
                || h.chars().any(|c| c.is_whitespace() || c.is_control())
        }) {
            return Err(Error::invalid_config(
                "overrides.endpointUrl must be an http:// or https:// URL with a host and no user info",
            ));
        }
    }
    if s.request_timeout.is_zero() || s.connect_timeout.is_zero() {
        return Err(Error::invalid_config(
            "requestTimeoutMs and connectTimeoutMs must be positive",
        ));
    }
    if let crate::storage::s3::CredentialSource::Static(pair) = &s.credentials {
        pair.check()
            .map_err(|why| Error::invalid_config(format!("overrides.credentials: {why}")))?;
    }
    Ok(())
}

/// Milliseconds from a caller (JS numbers) as a duration; negative, NaN and
/// infinite values are configuration errors.
pub fn duration_ms(name: &str, ms: f64) -> Result<Duration> {
    if !ms.is_finite() || ms < 0.0 {
        return Err(Error::invalid_config(format!(
            "{name} must be a non-negative number of milliseconds, got {ms}"
        )));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// A whole, non-negative count from a caller (JS numbers).
pub fn whole_number(name: &str, n: f64) -> Result<u64> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 && n <= 9_007_199_254_740_991.0 {
        Ok(n as u64)
    } else {
        Err(Error::invalid_config(format!(
            "{name} must be a non-negative integer, got {n}"
        )))
    }
}
