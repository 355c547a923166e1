//! The operations, on aws-sdk-s3.

use super::credentials::{identity_cache, Provider};
use super::errors::{chain, is_absent, status, store_error};
use super::redact::Secrets;
use super::S3Settings;
use crate::bucket::{Encryption, LockMode, LockRule, ObjectLock, Retention, Versioning};
use crate::lifecycle::Lifecycle;
use crate::storage::{
    KeyPage, Latest, ListFrom, Meta, Object, PageCursor, Precondition, PutOutcome, Store,
    StoreError, StoreErrorKind, StoreResult, VersionPage,
};
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    ChecksumAlgorithm, EncodingType, ObjectLockEnabled, ObjectLockMode, ServerSideEncryption,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One bucket on S3 or an S3-compatible server.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    region: String,
    kms_key_id: Option<String>,
    secrets: Secrets,
    /// The server fails GetObjectRetention (moto answers 500 to every
    /// one): retention is read from HeadObject instead.
    retention_by_head: Arc<AtomicBool>,
}

impl S3Store {
    /// Builds the SDK client; no request is made until the first operation.
    /// `region` must be resolved (see [`super::resolve_region`]).
    pub fn new(settings: S3Settings, region: String) -> S3Store {
        let secrets = Secrets::default();
        let region_name = region.clone();
        let region = Region::new(region);
        let mut b = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(region.clone())
            // Retries are the client's job (client/retry.rs): an SDK-level
            // retry of a conditional PUT whose answer was lost would turn our
            // own success into a 412 that we could not tell from a conflict.
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(settings.connect_timeout)
                    .operation_attempt_timeout(settings.request_timeout)
                    .build(),
            )
            // Plain bodies without checksum trailers: every S3-compatible
            // server takes them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .force_path_style(
                settings
                    .force_path_style
                    .unwrap_or(settings.endpoint_url.is_some()),
            )
            .identity_cache(identity_cache(
                &settings.credentials,
                settings.request_timeout,
            ))
            .credentials_provider(Provider::new(
                settings.credentials,
                region,
                secrets.clone(),
                settings.request_timeout,
            ));
        if let Some(url) = &settings.endpoint_url {
            b = b.endpoint_url(url);
        }
        S3Store {
            client: aws_sdk_s3::Client::from_conf(b.build()),
            bucket: settings.bucket,
            region: region_name,
            kms_key_id: settings.kms_key_id,
            secrets,
            retention_by_head: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The Object Lock headers of a HeadObject answer.
    async fn retention_by_head(
        &self,
        path: &str,
        version_id: &str,
    ) -> StoreResult<Option<Retention>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(path)
            .version_id(version_id)
            .send()
            .await
        {
            Ok(out) => Ok(retention(
                out.object_lock_mode().map(|m| m.as_str()),
                out.object_lock_retain_until_date(),
            )),
            Err(e) if matches!(status(&e), Some(404) | Some(400)) => Ok(None),
            Err(e) => Err(self.error("HeadObject", path, e)),
        }
    }

    fn error<E>(
        &self,
        operation: &'static str,
        path: &str,
        err: SdkError<E, HttpResponse>,
    ) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        store_error(&self.secrets, &self.bucket, operation, path, err)
    }
}

/// The body of a GetObject answer, read in chunks up to the size bound
/// (`MAX_OBJECT_BYTES`): an `Object`, or `return`s the error from the
/// enclosing function. A macro, not an async fn: another async layer in
/// every read made a call's future type deeper than the default recursion
/// limit of crates using this one.
macro_rules! bounded_body {
    ($store:expr, $out:expr, $path:expr) => {{
        let (store, out, path): (&S3Store, _, &str) = ($store, $out, $path);
        let etag = out.e_tag.clone();
        let version_id = out.version_id.clone();
        let too_large = |len: u64| StoreError {
            kind: StoreErrorKind::TooLarge,
            operation: "GetObject",
            bucket: store.bucket.clone(),
            path: path.to_string(),
            status: None,
            detail: format!(
                "the object is {len} bytes or more, larger than any entry a client writes \
                 (at most {} bytes are read)",
                crate::defaults::MAX_OBJECT_BYTES
            ),
            cause: None,
            maybe_applied: false,
        };
        let max = crate::defaults::MAX_OBJECT_BYTES;
        if let Some(len) = out
            .content_length
            .filter(|&n| n > 0 && n as u64 > max as u64)
        {
            return Err(too_large(len as u64));
        }
        // Read in chunks, so that a body without a length cannot grow past
        // the bound either.
        let mut body =
            Vec::with_capacity(out.content_length.unwrap_or(0).clamp(0, max as i64) as usize);
        let mut stream = out.body;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| StoreError {
                kind: StoreErrorKind::Transient,
                operation: "GetObject",
                bucket: store.bucket.clone(),
                path: path.to_string(),
                status: None,
                detail: store
                    .secrets
                    .redact(&format!("reading the body: {}", chain(&e))),
                cause: Some(Arc::new(e)),
                maybe_applied: false,
            })?;
            if body.len() + chunk.len() > max {
                return Err(too_large((body.len() + chunk.len()) as u64));
            }
            body.extend_from_slice(&chunk);
        }
        Object {
            body,
            etag,
            version_id,
        }
    }};
}

impl Store for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn kms_key_id(&self) -> Option<&str> {
        self.kms_key_id.as_deref()
    }

    async fn get(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Object>> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(path)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) if is_absent(&e) => return Ok(None),
            // A version id the server cannot parse: no such version. (Only
            // these codes: an expired token is a 400 too.)
            Err(e)
                if status(&e) == Some(400)
                    && version_id.is_some()
                    && matches!(e.code(), Some("InvalidArgument" | "InvalidRequest")) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(self.error("GetObject", path, e)),
        };
        Ok(Some(bounded_body!(self, out, path)))
    }

    async fn get_if_changed(&self, path: &str, etag: Option<&str>) -> StoreResult<Latest> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(path)
            .set_if_none_match(etag.map(str::to_string))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            // 304 Not Modified has no body, hence no S3 error code.
            Err(e)
                if etag.is_some() && e.raw_response().map(|r| r.status().as_u16()) == Some(304) =>
            {
                return Ok(Latest::Unchanged)
            }
            Err(e) if is_absent(&e) => return Ok(Latest::Absent),
            Err(e) => return Err(self.error("GetObject", path, e)),
        };
        Ok(Latest::Changed(bounded_body!(self, out, path)))
    }

    async fn head(&self, path: &str, version_id: Option<&str>) -> StoreResult<Option<Meta>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(path)
            .set_version_id(version_id.map(str::to_string))
            .send()
            .await
        {
            Ok(out) => Ok(Some(Meta {
                etag: out.e_tag.unwrap_or_default(),
                version_id: out.version_id,
            })),
            // A HEAD answer has no body, hence no S3 error code.
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) if status(&e) == Some(400) && version_id.is_some() => Ok(None),
            Err(e) => Err(self.error("HeadObject", path, e)),
        }
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
        retention: Option<Retention>,
    ) -> StoreResult<PutOutcome> {
        // Every PUT carries the body's CRC32, as a header (the body is in
        // memory: no aws-chunked trailer). S3 refuses a PUT without a
        // checksum (or Content-MD5) when it carries Object Lock retention,
        // and also any PUT to a bucket with a default retention rule, which
        // a client cannot know without asking; and S3 checks the body
        // against it. Both headers: moto wants the algorithm named.
        let crc = aws_smithy_types::base64::encode(crc32fast::hash(&body).to_be_bytes());
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(path)
            .content_type("application/json")
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .checksum_crc32(crc)
            .body(ByteStream::from(body));
        if let Some(r) = retention {
            req = req
                .object_lock_mode(ObjectLockMode::from(r.mode.as_str()))
                .object_lock_retain_until_date(aws_smithy_types::DateTime::from_millis(
                    r.until_ms.min(i64::MAX as u64) as i64,
                ));
        }
        req = match condition {
            Precondition::IfMatch(etag) => req.if_match(etag),
            Precondition::IfNoneMatch => req.if_none_match("*"),
        };
        if let Some(key) = &self.kms_key_id {
            req = req
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(key);
        }
        match req.send().await {
            Ok(out) => Ok(PutOutcome::Written(Meta {
                etag: out.e_tag.unwrap_or_default(),
                version_id: out.version_id,
            })),
            Err(e) => match (status(&e), e.code()) {
                (Some(412), _) | (Some(409), _) => Ok(PutOutcome::PreconditionFailed),
                // AWS: If-Match on a missing object.
                (Some(404), Some("NoSuchKey")) => Ok(PutOutcome::PreconditionFailed),
                _ => Err(self.error("PutObject", path, e)),
            },
        }
    }

    async fn list_versions(
        &self,
        path: &str,
        from: &ListFrom,
        max: u32,
    ) -> StoreResult<VersionPage> {
        let send = |encoding: Option<EncodingType>| {
            let req = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(path)
                .set_encoding_type(encoding)
                .max_keys(max as i32);
            match from {
                ListFrom::Newest => req,
                // Always both markers: moto lists the marker key's own versions
                // again when only KeyMarker is given.
                ListFrom::After(v) => req.key_marker(path).version_id_marker(v),
                ListFrom::Cursor(c) => req
                    .key_marker(&c.key_marker)
                    .version_id_marker(&c.version_id_marker),
            }
            .send()
        };
        let out = match send(None).await {
            Ok(out)
                if !replaced(
                    out.versions()
                        .iter()
                        .filter_map(|v| v.key())
                        .chain(out.delete_markers().iter().filter_map(|m| m.key()))
                        .chain(out.next_key_marker()),
                ) =>
            {
                Ok(out)
            }
            Ok(_) => send(Some(EncodingType::Url)).await,
            Err(e) if unreadable(&e) => send(Some(EncodingType::Url)).await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.error("ListObjectVersions", path, e))?;
        let name = names(out.encoding_type());
        // The prefix also matches longer names (`_log.json.bak`), and some
        // servers list those first: keep exactly `path`, never stop early.
        let (version_ids, last_modified_ms) = out
            .versions()
            .iter()
            .filter(|v| v.key().map(name).as_deref() == Some(path))
            .filter_map(|v| {
                let at = v
                    .last_modified()
                    .and_then(|t| t.to_millis().ok())
                    .and_then(|ms| u64::try_from(ms).ok());
                v.version_id().map(|id| (id.to_string(), at))
            })
            .unzip();
        let latest_delete_marker = out
            .delete_markers()
            .iter()
            .find(|m| m.key().map(name).as_deref() == Some(path) && m.is_latest() == Some(true))
            .and_then(|m| m.version_id().map(str::to_string));
        let next = match (
            out.is_truncated(),
            out.next_key_marker(),
            out.next_version_id_marker(),
        ) {
            (Some(true), Some(k), Some(v)) => Some(PageCursor {
                key_marker: name(k),
                version_id_marker: v.to_string(),
            }),
            _ => None,
        };
        Ok(VersionPage {
            version_ids,
            last_modified_ms,
            latest_delete_marker,
            next,
        })
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        // A page goes on after the last name of the one before (StartAfter),
        // not from the server's continuation token: S3 lists the same names
        // either way, and LocalStack cannot read back its own tokens for
        // non-ASCII names (HTTP 500).
        let after = continuation.or(start_after);
        let send = |encoding: Option<EncodingType>| {
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_start_after(after.map(str::to_string))
                .set_encoding_type(encoding)
                .max_keys(max as i32)
                .send()
        };
        let out = match send(None).await {
            Ok(out) if !replaced(out.contents().iter().filter_map(|o| o.key())) => Ok(out),
            Ok(_) => send(Some(EncodingType::Url)).await,
            Err(e) if unreadable(&e) => send(Some(EncodingType::Url)).await,
            Err(e) => Err(e),
        }
        .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
        let name = names(out.encoding_type());
        let paths: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(name))
            .collect();
        let continuation = match (out.is_truncated() == Some(true), paths.last()) {
            (false, _) => None,
            (true, Some(last)) => Some(last.clone()),
            // Without a delimiter a page that is cut short holds names: a
            // server that says otherwise would end the listing early.
            (true, None) => {
                return Err(StoreError {
                    kind: StoreErrorKind::Other,
                    operation: "ListObjectsV2",
                    bucket: self.bucket.clone(),
                    path: prefix.to_string(),
                    status: None,
                    detail: "the server said the listing goes on but listed no name to go on from"
                        .to_string(),
                    cause: None,
                    maybe_applied: false,
                })
            }
        };
        Ok(KeyPage {
            paths,
            continuation,
        })
    }

    async fn versioning(&self) -> StoreResult<Versioning> {
        let from_text = |status: Option<&str>| match status {
            Some("Enabled") => Versioning::Enabled,
            Some("Suspended") => Versioning::Suspended,
            _ => Versioning::Off,
        };
        match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(from_text(out.status().map(|s| s.as_str()))),
            Err(e) => match unread(&e, "s3:GetBucketVersioning", "GetBucketVersioning") {
                Some(why) => Ok(Versioning::Unknown(why)),
                // moto answers 200 with a root element the SDK rejects;
                // read the status from the raw body rather than lose the
                // check.
                None if status(&e) == Some(200) => {
                    let body = e
                        .raw_response()
                        .and_then(|r| r.body().bytes())
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    let status = ["Enabled", "Suspended"]
                        .into_iter()
                        .find(|s| body.contains(&format!("<Status>{s}</Status>")));
                    Ok(from_text(status))
                }
                None => Err(self.error("GetBucketVersioning", "", e)),
            },
        }
    }

    async fn object_lock(&self) -> StoreResult<ObjectLock> {
        let out = match self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => {
                return Ok(ObjectLock::Disabled)
            }
            Err(e) => {
                return match unread(
                    &e,
                    "s3:GetBucketObjectLockConfiguration",
                    "GetObjectLockConfiguration",
                ) {
                    Some(why) => Ok(ObjectLock::Unknown(why)),
                    None => Err(self.error("GetObjectLockConfiguration", "", e)),
                }
            }
        };
        let Some(config) = out
            .object_lock_configuration()
            .filter(|c| c.object_lock_enabled() == Some(&ObjectLockEnabled::Enabled))
        else {
            return Ok(ObjectLock::Disabled);
        };
        let default = config
            .rule()
            .and_then(|r| r.default_retention())
            .and_then(|d| {
                let mode = LockMode::parse(d.mode()?.as_str())?;
                // S3 counts a year of retention as 365 days at least.
                let days = match (d.days(), d.years()) {
                    (Some(days), _) if days > 0 => days,
                    (_, Some(years)) if years > 0 => years.saturating_mul(365),
                    _ => return None,
                };
                Some(LockRule {
                    mode,
                    days: u32::try_from(days).ok()?,
                })
            });
        Ok(ObjectLock::Enabled { default })
    }

    async fn encryption(&self) -> StoreResult<Encryption> {
        let out = match self
            .client
            .get_bucket_encryption()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("ServerSideEncryptionConfigurationNotFoundError") => {
                return Ok(Encryption::None)
            }
            Err(e) => {
                return match unread(&e, "s3:GetEncryptionConfiguration", "GetBucketEncryption") {
                    Some(why) => Ok(Encryption::Unknown(why)),
                    None => Err(self.error("GetBucketEncryption", "", e)),
                }
            }
        };
        let by_default = out
            .server_side_encryption_configuration()
            .and_then(|c| c.rules().first())
            .and_then(|r| r.apply_server_side_encryption_by_default());
        Ok(match by_default {
            None => Encryption::None,
            Some(d) => match d.sse_algorithm() {
                ServerSideEncryption::Aes256 => Encryption::S3,
                ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse => {
                    Encryption::Kms {
                        key: d.kms_master_key_id().map(str::to_string),
                    }
                }
                other => Encryption::Other(other.as_str().to_string()),
            },
        })
    }

    async fn retention(&self, path: &str, version_id: &str) -> StoreResult<Option<Retention>> {
        if self.retention_by_head.load(Ordering::Relaxed) {
            return self.retention_by_head(path, version_id).await;
        }
        match self
            .client
            .get_object_retention()
            .bucket(&self.bucket)
            .key(path)
            .version_id(version_id)
            .send()
            .await
        {
            Ok(out) => {
                let r = out.retention();
                Ok(retention(
                    r.and_then(|r| r.mode()).map(|m| m.as_str()),
                    r.and_then(|r| r.retain_until_date()),
                ))
            }
            // No retention on the version (AWS, LocalStack; SeaweedFS says
            // so for the bucket), a bucket without Object Lock (AWS answers
            // 400 InvalidRequest), or no such version.
            Err(e)
                if matches!(
                    e.code(),
                    Some(
                        "NoSuchObjectLockConfiguration"
                            | "ObjectLockConfigurationNotFoundError"
                            | "NoSuchKey"
                            | "NoSuchVersion"
                    )
                ) || (status(&e) == Some(400) && e.code() == Some("InvalidRequest")) =>
            {
                Ok(None)
            }
            // A server without a working GetObjectRetention (moto answers it
            // with the object itself, a 200 that is not S3's XML, or a 500
            // without an S3 error code; others 501): HeadObject carries the
            // same. Only then: on AWS, HeadObject leaves the lock headers out
            // for a caller without s3:GetObjectRetention, which would read
            // as "no retention".
            Err(e)
                if (matches!(status(&e), Some(200) | Some(500)) && e.code().is_none())
                    || matches!(status(&e), Some(501) | Some(405)) =>
            {
                let got = self.retention_by_head(path, version_id).await?;
                self.retention_by_head.store(true, Ordering::Relaxed);
                Ok(got)
            }
            Err(e) => Err(self.error("GetObjectRetention", path, e)),
        }
    }

    async fn lifecycle(&self) -> StoreResult<Lifecycle> {
        let out = match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchLifecycleConfiguration") => {
                return Ok(Lifecycle::Rules(Vec::new()))
            }
            Err(e) => {
                return match unread(
                    &e,
                    "s3:GetLifecycleConfiguration",
                    "GetBucketLifecycleConfiguration",
                ) {
                    Some(why) => Ok(Lifecycle::Unknown(why)),
                    None => Err(self.error("GetBucketLifecycleConfiguration", "", e)),
                }
            }
        };
        Ok(Lifecycle::Rules(
            out.rules().iter().map(lifecycle_rule).collect(),
        ))
    }
}

/// Why a bucket setting could not be read, when that is the answer rather
/// than a failure: not permitted (403), or a server that does not implement
/// the call (405, 501).
fn unread<E>(err: &SdkError<E, HttpResponse>, action: &str, operation: &str) -> Option<String> {
    match status(err) {
        Some(403) => Some(format!("not permitted ({action})")),
        Some(405) | Some(501) => Some(format!("the server does not implement {operation}")),
        _ => None,
    }
}

/// A version's retention from S3's mode and date (`None` without both, or
/// with a mode S3 does not have).
fn retention(mode: Option<&str>, until: Option<&aws_smithy_types::DateTime>) -> Option<Retention> {
    let mode = LockMode::parse(mode?)?;
    let until_ms = until?.to_millis().ok()?;
    Some(Retention {
        mode,
        until_ms: u64::try_from(until_ms).unwrap_or(0),
    })
}

/// A lifecycle rule as [`crate::lifecycle`] reads it. A rule's prefix is in
/// its filter (`Filter.Prefix`, or `Filter.And.Prefix` beside tags), or in
/// the older top-level `Prefix`.
fn lifecycle_rule(r: &aws_sdk_s3::types::LifecycleRule) -> crate::lifecycle::Rule {
    let filter = r.filter();
    let and = filter.and_then(|f| f.and());
    #[allow(deprecated)]
    let prefix = filter
        .and_then(|f| f.prefix())
        .or_else(|| and.and_then(|a| a.prefix()))
        .or(r.prefix())
        .unwrap_or("");
    let days = |d: Option<i32>| d.and_then(|d| u32::try_from(d).ok());
    crate::lifecycle::Rule {
        id: r.id().map(str::to_string),
        enabled: r.status() == &aws_sdk_s3::types::ExpirationStatus::Enabled,
        prefix: prefix.to_string(),
        needs_tags: filter.is_some_and(|f| f.tag().is_some())
            || and.is_some_and(|a| !a.tags().is_empty()),
        sized: filter.is_some_and(|f| {
            f.object_size_greater_than().is_some() || f.object_size_less_than().is_some()
        }) || and.is_some_and(|a| {
            a.object_size_greater_than().is_some() || a.object_size_less_than().is_some()
        }),
        expiration_days: days(r.expiration().and_then(|e| e.days())),
        expiration_date: r.expiration().and_then(|e| e.date()).map(|d| d.to_string()),
        noncurrent_days: days(
            r.noncurrent_version_expiration()
                .and_then(|e| e.noncurrent_days()),
        ),
        newer_noncurrent: days(
            r.noncurrent_version_expiration()
                .and_then(|e| e.newer_noncurrent_versions()),
        ),
        transition: r
            .transitions()
            .first()
            .and_then(|t| Some((days(t.days())?, t.storage_class()?.as_str().to_string()))),
        noncurrent_transition: r.noncurrent_version_transitions().first().and_then(|t| {
            Some((
                days(t.noncurrent_days())?,
                t.storage_class()?.as_str().to_string(),
            ))
        }),
    }
}

/// Listings ask for object names as they are, and ask again for that page
/// URL-encoded (`EncodingType=url`) only when the server could not put a
/// name in XML: S3 and LocalStack write a name with a control character (put
/// there by anyone who can write to the bucket) into the XML as it is, which
/// makes the page unreadable ([`unreadable`]); SeaweedFS writes U+FFFD in its
/// place ([`replaced`]). Not asking for encoding by default is for
/// LocalStack: with it, LocalStack leaves NextKeyMarker unencoded and compares
/// the markers and StartAfter it is sent with the encoded names, so pages
/// after a name with a space, `+` or a non-ASCII character skip or repeat
/// names. (moto never encodes version listings: a control character there
/// still breaks them.)
fn replaced<'a>(mut names: impl Iterator<Item = &'a str>) -> bool {
    names.any(|n| n.contains('\u{FFFD}'))
}

/// A listing answer that came but could not be read (its XML did not
/// parse): see [`replaced`].
fn unreadable<E>(err: &SdkError<E, HttpResponse>) -> bool {
    matches!(err, SdkError::ResponseError(_)) || status(err) == Some(200)
}

/// How to read the object names of a listing: URL-decoded when the server
/// says it encoded them (it echoes the encoding it used).
fn names(encoding: Option<&EncodingType>) -> fn(&str) -> String {
    match encoding {
        Some(EncodingType::Url) => url_decoded,
        _ => str::to_string,
    }
}

/// Undoes S3's `EncodingType=url` (form encoding: `+` is a space, `%2B` a
/// plus).
fn url_decoded(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::url_decoded;

    #[test]
    fn listing_names_are_url_decoded() {
        assert_eq!(url_decoded("keys/a%2Bb+c.json"), "keys/a+b c.json");
        assert_eq!(url_decoded("_log.json%01"), "_log.json\u{1}");
        assert_eq!(url_decoded("caf%C3%A9%20%25"), "café %");
        assert_eq!(url_decoded("50%"), "50%");
        assert_eq!(url_decoded("a%zz"), "a%zz");
    }

    /// Issue (review): a rule that filters on object size was read as if it
    /// applied to every object under its prefix. One that removes only
    /// objects over 1 GiB (or under 10 bytes) cannot have removed a log
    /// version, yet the audit named it as the reason the oldest versions
    /// are gone (a horizon, `ok`), after they were deleted.
    #[test]
    fn a_rule_that_filters_on_object_size_does_not_explain_expired_log_versions() {
        use aws_sdk_s3::types::{
            ExpirationStatus, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter,
            NoncurrentVersionExpiration,
        };
        let rule = |filter: LifecycleRuleFilter| {
            LifecycleRule::builder()
                .id("sized")
                .status(ExpirationStatus::Enabled)
                .filter(filter)
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap()
        };
        let big_only = rule(
            LifecycleRuleFilter::builder()
                .object_size_greater_than(1 << 30)
                .build(),
        );
        let tiny_only = rule(
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix("")
                        .object_size_less_than(10)
                        .build(),
                )
                .build(),
        );
        for r in [big_only, tiny_only] {
            let rules = crate::lifecycle::Lifecycle::Rules(vec![super::lifecycle_rule(&r)]);
            assert!(
                rules.expiring("_log.json").is_none(),
                "{:?}",
                super::lifecycle_rule(&r)
            );
        }
    }
}
