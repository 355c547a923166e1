//! The config as the TypeScript layer hands it over (types already checked
//! there), turned into core settings. Value rules and defaults are the
//! core's.

use crate::credentials;
use immukv_core::bucket::{LockMode, LockRule};
use immukv_core::client::{duration_ms, whole_number, Options};
use immukv_core::storage::s3::{CredentialSource, KeyPair, S3Settings};
use immukv_core::{Error, Result};
use napi_derive::napi;
use std::time::Duration;

#[napi(object)]
pub struct NativeConfig {
    pub s3_bucket: String,
    pub s3_region: Option<String>,
    pub s3_prefix: String,
    pub kms_key_id: Option<String>,
    pub repair_check_interval_ms: Option<f64>,
    pub read_only: Option<bool>,
    pub endpoint_url: Option<String>,
    pub force_path_style: Option<bool>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub request_timeout_ms: Option<f64>,
    pub connect_timeout_ms: Option<f64>,
    pub operation_timeout_ms: Option<f64>,
    pub read_concurrency: Option<f64>,
    pub list_page_size: Option<f64>,
    pub max_value_bytes: Option<f64>,
    pub pipeline_depth: Option<f64>,
    pub object_lock: Option<NativeObjectLock>,
}

/// `objectLock`: every write is retained in `mode` for `days`.
#[napi(object)]
pub struct NativeObjectLock {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    pub days: f64,
}

/// The protocol settings an in-memory client takes.
#[napi(object)]
pub struct NativeMemoryConfig {
    pub s3_prefix: Option<String>,
    pub repair_check_interval_ms: Option<f64>,
    pub read_only: Option<bool>,
    pub operation_timeout_ms: Option<f64>,
    pub read_concurrency: Option<f64>,
    pub list_page_size: Option<f64>,
    pub max_value_bytes: Option<f64>,
    pub pipeline_depth: Option<f64>,
}

fn ms(name: &str, v: Option<f64>, default: Duration) -> Result<Duration> {
    v.map_or(Ok(default), |v| duration_ms(name, v))
}

fn count(name: &str, v: Option<f64>) -> Result<Option<u64>> {
    v.map(|n| whole_number(name, n)).transpose()
}

struct Protocol {
    prefix: String,
    repair_check_interval_ms: Option<f64>,
    read_only: Option<bool>,
    operation_timeout_ms: Option<f64>,
    read_concurrency: Option<f64>,
    list_page_size: Option<f64>,
    max_value_bytes: Option<f64>,
    pipeline_depth: Option<f64>,
}

/// `objectLock` as the core takes it (its days are checked there).
fn object_lock(lock: Option<NativeObjectLock>) -> Result<Option<LockRule>> {
    let Some(lock) = lock else { return Ok(None) };
    let mode = LockMode::parse(&lock.mode).ok_or_else(|| {
        Error::invalid_config(format!(
            "objectLock.mode must be \"GOVERNANCE\" or \"COMPLIANCE\", got {:?}",
            lock.mode
        ))
    })?;
    let days = whole_number("objectLock.days", lock.days)?;
    Ok(Some(LockRule {
        mode,
        days: u32::try_from(days).unwrap_or(u32::MAX),
    }))
}

fn options(p: Protocol) -> Result<Options> {
    let d = Options::default();
    Ok(Options {
        prefix: p.prefix,
        repair_check_interval: ms(
            "repairCheckIntervalMs",
            p.repair_check_interval_ms,
            d.repair_check_interval,
        )?,
        read_only: p.read_only.unwrap_or(d.read_only),
        operation_timeout: ms(
            "operationTimeoutMs",
            p.operation_timeout_ms,
            d.operation_timeout,
        )?,
        read_concurrency: count("readConcurrency", p.read_concurrency)?
            .map_or(d.read_concurrency, |n| n as usize),
        list_page_size: count("listPageSize", p.list_page_size)?
            .map_or(d.list_page_size, |n| n.min(u64::from(u32::MAX)) as u32),
        max_value_bytes: count("maxValueBytes", p.max_value_bytes)?
            .map_or(d.max_value_bytes, |n| n as usize),
        pipeline_depth: count("pipelineDepth", p.pipeline_depth)?
            .map_or(d.pipeline_depth, |n| n.min(u64::from(u32::MAX)) as u32),
        object_lock: None,
    })
}

pub fn s3(
    c: NativeConfig,
    provider: Option<credentials::JsProvider>,
) -> Result<(S3Settings, Options)> {
    let credentials = match (provider, c.access_key_id, c.secret_access_key) {
        (Some(f), _, _) => CredentialSource::Function(credentials::function(f)),
        (None, Some(a), Some(s)) => CredentialSource::Static(KeyPair {
            access_key_id: a,
            secret_access_key: s,
            session_token: c.session_token,
            expires_at_ms: None,
        }),
        (None, None, None) => CredentialSource::DefaultChain,
        _ => {
            return Err(Error::invalid_config(
                "overrides.credentials needs both accessKeyId and secretAccessKey",
            ))
        }
    };
    let mut s3 = S3Settings::new(c.s3_bucket);
    s3.region = c.s3_region;
    s3.endpoint_url = c.endpoint_url;
    s3.force_path_style = c.force_path_style;
    s3.credentials = credentials;
    s3.kms_key_id = c.kms_key_id.filter(|k| !k.is_empty());
    s3.request_timeout = ms("requestTimeoutMs", c.request_timeout_ms, s3.request_timeout)?;
    s3.connect_timeout = ms("connectTimeoutMs", c.connect_timeout_ms, s3.connect_timeout)?;
    let mut opts = options(Protocol {
        prefix: c.s3_prefix,
        repair_check_interval_ms: c.repair_check_interval_ms,
        read_only: c.read_only,
        operation_timeout_ms: c.operation_timeout_ms,
        read_concurrency: c.read_concurrency,
        list_page_size: c.list_page_size,
        max_value_bytes: c.max_value_bytes,
        pipeline_depth: c.pipeline_depth,
    })?;
    opts.object_lock = object_lock(c.object_lock)?;
    Ok((s3, opts))
}

pub fn memory(c: NativeMemoryConfig) -> Result<Options> {
    options(Protocol {
        prefix: c.s3_prefix.unwrap_or_default(),
        repair_check_interval_ms: c.repair_check_interval_ms,
        read_only: c.read_only,
        operation_timeout_ms: c.operation_timeout_ms,
        read_concurrency: c.read_concurrency,
        list_page_size: c.list_page_size,
        max_value_bytes: c.max_value_bytes,
        pipeline_depth: c.pipeline_depth,
    })
}
