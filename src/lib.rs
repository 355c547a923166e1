//! Node binding: a thin napi-rs layer over `immukv-core`.
//!
//! Values cross the boundary as JSON text (measured faster than converting
//! objects property by property; see bench/). Errors cross as a JSON payload
//! in the message, which `index.js` turns into `ImmuKVError` subclasses with
//! a `code`: napi's `async fn` cannot set a custom `code` itself.

use immukv_core::client::{duration_ms, Options};
use immukv_core::format::Entry;
use immukv_core::storage::s3::{CredentialSource, CredentialsFn, KeyPair, S3Settings, S3Store};
use immukv_core::{Client, Digest, Error, ErrorCode, Report, VerifyOptions};
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use napi_derive::napi;
use serde_json::Value;
use std::sync::Arc;

const ERROR_TAG: &str = "IMMUKV_ERROR:";

fn to_napi(e: Error) -> napi::Error {
    let payload = serde_json::json!({
        "code": e.code.as_str(),
        "message": e.message,
        "operation": e.operation,
        "bucket": e.bucket,
        "path": e.path,
        "cause": e.cause,
        "mayHaveCommitted": e.may_have_committed,
    });
    napi::Error::from_reason(format!("{ERROR_TAG}{payload}"))
}

/// Configuration as `index.js` hands it over (types already checked there;
/// value rules are checked by the core).
#[napi(object)]
pub struct NativeConfig {
    pub s3_bucket: String,
    pub s3_region: String,
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
}

#[napi(object)]
pub struct NativeEntry {
    pub key: String,
    /// The stored value as JSON text.
    pub value_json: String,
    pub timestamp_ms: f64,
    pub version_id: String,
    pub sequence: f64,
    pub previous_version_id: Option<String>,
    pub hash: String,
    pub previous_hash: String,
    pub previous_key_object_etag: Option<String>,
}

impl From<Entry> for NativeEntry {
    fn from(e: Entry) -> Self {
        NativeEntry {
            value_json: serde_json::to_string(&e.value).expect("a JSON value serialises"),
            key: e.key,
            timestamp_ms: e.timestamp_ms as f64,
            version_id: e.version_id,
            sequence: e.sequence as f64,
            previous_version_id: e.previous_version_id,
            hash: e.hash,
            previous_hash: e.previous_hash,
            previous_key_object_etag: e.previous_key_object_etag,
        }
    }
}

#[napi(object)]
pub struct NativeHistory {
    pub entries: Vec<NativeEntry>,
    pub oldest_version_id: Option<String>,
}

#[napi(object)]
pub struct NativeDigest {
    pub sequence: f64,
    pub version_id: String,
    pub hash: String,
}

#[napi(object)]
pub struct NativeFailure {
    pub sequence: Option<f64>,
    pub version_id: Option<String>,
    pub kind: String,
    pub detail: String,
}

#[napi(object)]
pub struct NativeReport {
    pub ok: bool,
    pub checked: u32,
    pub failures: Vec<NativeFailure>,
    pub head: Option<NativeDigest>,
}

#[napi(object)]
pub struct NativeVerifyOptions {
    pub limit: Option<f64>,
    pub trusted: Option<NativeDigest>,
    pub check_key_objects: Option<bool>,
}

fn digest_out(d: Digest) -> NativeDigest {
    NativeDigest {
        sequence: d.sequence as f64,
        version_id: d.version_id,
        hash: d.hash,
    }
}

fn report_out(r: Report) -> NativeReport {
    NativeReport {
        ok: r.ok,
        checked: r.checked as u32,
        failures: r
            .failures
            .into_iter()
            .map(|f| NativeFailure {
                sequence: f.sequence.map(|s| s as f64),
                version_id: f.version_id,
                kind: f.kind.as_str().to_string(),
                detail: f.detail,
            })
            .collect(),
        head: r.head.map(digest_out),
    }
}

fn count(name: &str, v: Option<f64>) -> Result<Option<u64>, Error> {
    match v {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Ok(Some(n as u64)),
        Some(n) => Err(Error::invalid_config(format!(
            "{name} must be a non-negative integer, got {n}"
        ))),
    }
}

fn limit(v: Option<f64>) -> Result<Option<u32>, Error> {
    match v {
        None => Ok(None),
        Some(n) if n.is_finite() && n >= 1.0 && n.fract() == 0.0 => {
            Ok(Some(n.min(u32::MAX as f64) as u32))
        }
        Some(n) => Err(Error::new(
            ErrorCode::InvalidArgument,
            format!("limit must be a positive integer, got {n}"),
        )),
    }
}

fn parse_value(json: &str) -> Result<Value, Error> {
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorCode::InvalidValue,
            format!("value is not representable as JSON: {e}"),
        )
    })
}

type CredentialsTsfn = ThreadsafeFunction<(), Promise<String>, (), Status, false, true>;

fn settings(
    c: NativeConfig,
    provider: Option<CredentialsTsfn>,
) -> Result<(S3Settings, Options), Error> {
    let defaults = Options::default();
    let ms = |name: &str, v: Option<f64>, d: std::time::Duration| {
        v.map_or(Ok(d), |v| duration_ms(name, v))
    };
    let credentials = match (provider, c.access_key_id, c.secret_access_key) {
        (Some(f), _, _) => {
            let f = Arc::new(f);
            let call: CredentialsFn = Arc::new(move || {
                let f = f.clone();
                Box::pin(async move {
                    let text = f
                        .call_async_catch(())
                        .await
                        .map_err(|e| e.reason.clone())?
                        .await
                        .map_err(|e| e.reason.clone())?;
                    let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
                    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
                    Ok(KeyPair {
                        access_key_id: s("accessKeyId")
                            .ok_or("credentials function returned no accessKeyId")?,
                        secret_access_key: s("secretAccessKey")
                            .ok_or("credentials function returned no secretAccessKey")?,
                        session_token: s("sessionToken"),
                        expires_at_ms: v
                            .get("expiration")
                            .and_then(Value::as_f64)
                            .map(|x| x as u64),
                    })
                })
            });
            CredentialSource::Provider(call)
        }
        (None, Some(a), Some(s)) => CredentialSource::Static(KeyPair {
            access_key_id: a,
            secret_access_key: s,
            session_token: c.session_token,
            expires_at_ms: None,
        }),
        (None, None, None) => CredentialSource::Default,
        _ => {
            return Err(Error::invalid_config(
                "overrides.credentials needs both accessKeyId and secretAccessKey",
            ))
        }
    };
    let s3 = S3Settings {
        bucket: c.s3_bucket,
        region: c.s3_region,
        endpoint_url: c.endpoint_url,
        force_path_style: c.force_path_style,
        credentials,
        kms_key_id: c.kms_key_id.filter(|k| !k.is_empty()),
        request_timeout: ms(
            "requestTimeoutMs",
            c.request_timeout_ms,
            std::time::Duration::from_secs(5),
        )?,
        connect_timeout: ms(
            "connectTimeoutMs",
            c.connect_timeout_ms,
            std::time::Duration::from_secs(2),
        )?,
    };
    let opts = Options {
        prefix: c.s3_prefix,
        repair_check_interval: ms(
            "repairCheckIntervalMs",
            c.repair_check_interval_ms,
            defaults.repair_check_interval,
        )?,
        read_only: c.read_only.unwrap_or(false),
        operation_timeout: ms(
            "operationTimeoutMs",
            c.operation_timeout_ms,
            defaults.operation_timeout,
        )?,
        read_concurrency: count("readConcurrency", c.read_concurrency)?
            .map_or(defaults.read_concurrency, |n| n as usize),
        list_page_size: count("listPageSize", c.list_page_size)?
            .map_or(defaults.list_page_size, |n| n.min(u32::MAX as u64) as u32),
        max_value_bytes: count("maxValueBytes", c.max_value_bytes)?
            .map_or(defaults.max_value_bytes, |n| n as usize),
    };
    Ok((s3, opts))
}

#[napi]
pub struct NativeClient {
    inner: Arc<Client<S3Store>>,
}

#[napi]
impl NativeClient {
    #[napi(constructor)]
    pub fn new(
        config: NativeConfig,
        credentials: Option<ThreadsafeFunction<(), Promise<String>, (), Status, false, true>>,
    ) -> napi::Result<Self> {
        let (s3, opts) = settings(config, credentials).map_err(to_napi)?;
        Ok(NativeClient {
            inner: Arc::new(Client::connect(s3, opts).map_err(to_napi)?),
        })
    }

    /// A client on the same connection pool with its own repair state.
    #[napi]
    pub fn fork(&self) -> NativeClient {
        NativeClient {
            inner: Arc::new(self.inner.fork()),
        }
    }

    #[napi]
    pub async fn set(&self, key: String, value_json: String) -> napi::Result<NativeEntry> {
        let value = parse_value(&value_json).map_err(to_napi)?;
        self.inner
            .set(&key, value)
            .await
            .map(Into::into)
            .map_err(to_napi)
    }

    #[napi]
    pub async fn get(&self, key: String) -> napi::Result<NativeEntry> {
        self.inner.get(&key).await.map(Into::into).map_err(to_napi)
    }

    #[napi]
    pub async fn get_log_version(&self, version_id: String) -> napi::Result<NativeEntry> {
        self.inner
            .get_log_version(&version_id)
            .await
            .map(Into::into)
            .map_err(to_napi)
    }

    #[napi]
    pub async fn history(
        &self,
        key: String,
        before_version_id: Option<String>,
        limit_: Option<f64>,
    ) -> napi::Result<NativeHistory> {
        let l = limit(limit_).map_err(to_napi)?;
        let (entries, oldest) = self
            .inner
            .history(&key, before_version_id.as_deref(), l)
            .await
            .map_err(to_napi)?;
        Ok(NativeHistory {
            entries: entries.into_iter().map(Into::into).collect(),
            oldest_version_id: oldest,
        })
    }

    #[napi]
    pub async fn log_entries(
        &self,
        before_version_id: Option<String>,
        limit_: Option<f64>,
    ) -> napi::Result<Vec<NativeEntry>> {
        let l = limit(limit_).map_err(to_napi)?;
        let entries = self
            .inner
            .log_entries(before_version_id.as_deref(), l)
            .await
            .map_err(to_napi)?;
        Ok(entries.into_iter().map(Into::into).collect())
    }

    #[napi]
    pub async fn list_keys(
        &self,
        prefix: String,
        after_key: Option<String>,
        limit_: Option<f64>,
    ) -> napi::Result<Vec<String>> {
        let l = limit(limit_).map_err(to_napi)?;
        self.inner
            .list_keys_with_prefix(&prefix, after_key.as_deref(), l)
            .await
            .map_err(to_napi)
    }

    #[napi]
    pub async fn verify_log(&self, options: NativeVerifyOptions) -> napi::Result<NativeReport> {
        let opts = VerifyOptions {
            limit: limit(options.limit).map_err(to_napi)?,
            trusted: options.trusted.map(|t| Digest {
                sequence: t.sequence as u64,
                version_id: t.version_id,
                hash: t.hash,
            }),
            check_key_objects: options.check_key_objects.unwrap_or(true),
        };
        self.inner
            .verify_log(&opts)
            .await
            .map(report_out)
            .map_err(to_napi)
    }

    #[napi]
    pub async fn digest(&self) -> napi::Result<Option<NativeDigest>> {
        Ok(self.inner.digest().await.map_err(to_napi)?.map(digest_out))
    }

    #[napi]
    pub fn close(&self) {
        self.inner.close();
    }
}

/// Recomputes an entry's hash (either dialect). `stored_value_json` is the
/// value as read from storage, used when it means the same as `value_json`
/// (a Python writer's `1.0` is JS's `1`).
#[napi]
pub fn verify_entry(entry: NativeEntry, stored_value_json: Option<String>) -> napi::Result<bool> {
    let value = parse_value(&entry.value_json).map_err(to_napi)?;
    let stored = stored_value_json
        .map(|s| parse_value(&s))
        .transpose()
        .map_err(to_napi)?;
    let whole = |n: f64| (n.is_finite() && n >= 0.0 && n.fract() == 0.0).then_some(n as u64);
    let (Some(sequence), Some(timestamp_ms)) = (whole(entry.sequence), whole(entry.timestamp_ms))
    else {
        return Ok(false);
    };
    let e = Entry {
        key: entry.key,
        value,
        timestamp_ms,
        sequence,
        previous_hash: entry.previous_hash,
        hash: entry.hash,
        previous_version_id: None,
        previous_key_object_etag: None,
        version_id: entry.version_id,
    };
    Ok(e.hash_dialect_as_stored(stored.as_ref()).is_some())
}

/// Benchmark only (bench/boundary): a value crossing into Rust and back as
/// JSON text, the way the client moves values.
#[napi]
pub fn bench_echo_json(text: String) -> napi::Result<String> {
    let v = parse_value(&text).map_err(to_napi)?;
    Ok(serde_json::to_string(&v).expect("a JSON value serialises"))
}

/// Benchmark only: the same value converted property by property.
#[napi]
pub fn bench_echo_object(value: Value) -> Value {
    value
}
