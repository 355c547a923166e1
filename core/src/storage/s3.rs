//! The S3 implementation of [`Store`], on aws-sdk-s3.

use super::{
    KeyPage, Meta, Object, Precondition, PutOutcome, Store, StoreError, StoreErrorKind,
    StoreResult, VersionPage,
};
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::{Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, ServerSideEncryption};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Credentials as a caller hands them over.
#[derive(Clone)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// When they stop working (epoch ms); the SDK asks again before then.
    pub expires_at_ms: Option<u64>,
}

pub type CredentialsFuture = Pin<Box<dyn Future<Output = Result<KeyPair, String>> + Send>>;
/// An async function returning credentials, called again when they expire.
pub type CredentialsFn = Arc<dyn Fn() -> CredentialsFuture + Send + Sync>;

#[derive(Clone, Default)]
pub enum CredentialSource {
    /// AWS's default chain: environment, shared config/profile, web identity,
    /// container and instance roles.
    #[default]
    Default,
    Static(KeyPair),
    Provider(CredentialsFn),
}

#[derive(Clone)]
pub struct S3Settings {
    pub bucket: String,
    pub region: String,
    pub endpoint_url: Option<String>,
    /// Defaults to true when `endpoint_url` is set (local servers), else false.
    pub force_path_style: Option<bool>,
    pub credentials: CredentialSource,
    /// When set, every PUT asks for SSE-KMS with this key.
    pub kms_key_id: Option<String>,
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
}

/// Secret strings seen by this store's credential providers; removed from
/// every error text before it leaves the store.
#[derive(Clone, Default)]
pub struct Secrets(Arc<RwLock<Vec<String>>>);

impl Secrets {
    fn remember(&self, pair: &KeyPair) {
        let mut known = self.0.write().expect("secrets lock");
        for s in std::iter::once(&pair.secret_access_key).chain(pair.session_token.as_ref()) {
            // Very short strings would mangle every message; real secrets are long.
            if s.len() >= 6 && !known.contains(s) {
                known.push(s.clone());
            }
        }
        let excess = known.len().saturating_sub(16); // keep the latest few only
        known.drain(..excess);
    }

    pub fn redact(&self, text: &str) -> String {
        let known = self.0.read().expect("secrets lock");
        known
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

/// Wraps any provider so that what it returns is known to [`Secrets`].
struct Remembering<P> {
    inner: P,
    secrets: Secrets,
}

impl<P: fmt::Debug> fmt::Debug for Remembering<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remembering")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<P: Provide> ProvideCredentials for Remembering<P> {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            let pair = self.inner.provide().await?;
            self.secrets.remember(&pair);
            let expiry = pair
                .expires_at_ms
                .map(|ms| UNIX_EPOCH + Duration::from_millis(ms));
            Ok(Credentials::new(
                pair.access_key_id,
                pair.secret_access_key,
                pair.session_token,
                expiry,
                "immukv",
            ))
        })
    }
}

trait Provide: fmt::Debug + Send + Sync {
    fn provide(&self) -> impl Future<Output = Result<KeyPair, CredentialsError>> + Send;
}

struct FromFn(CredentialsFn);
impl fmt::Debug for FromFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("credentials function")
    }
}
impl Provide for FromFn {
    async fn provide(&self) -> Result<KeyPair, CredentialsError> {
        (self.0)().await.map_err(CredentialsError::provider_error)
    }
}

/// The default chain, built on first use because building it is async and
/// the client is constructed synchronously.
#[derive(Debug)]
struct DefaultChain {
    region: Region,
    chain:
        tokio::sync::OnceCell<aws_config::default_provider::credentials::DefaultCredentialsChain>,
}
impl Provide for DefaultChain {
    async fn provide(&self) -> Result<KeyPair, CredentialsError> {
        let chain = self
            .chain
            .get_or_init(|| {
                aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                    .region(self.region.clone())
                    .build()
            })
            .await;
        let c = chain.provide_credentials().await?;
        Ok(KeyPair {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: c.session_token().map(str::to_string),
            expires_at_ms: c
                .expiry()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64),
        })
    }
}

struct Fixed(KeyPair);
impl fmt::Debug for Fixed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("static credentials") // never print the secret
    }
}
impl Provide for Fixed {
    async fn provide(&self) -> Result<KeyPair, CredentialsError> {
        Ok(self.0.clone())
    }
}

/// One bucket on S3 or an S3-compatible server.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    kms_key_id: Option<String>,
    secrets: Secrets,
}

impl S3Store {
    /// Builds the SDK client; no request is made until the first operation.
    pub fn new(settings: S3Settings) -> S3Store {
        let secrets = Secrets::default();
        let region = Region::new(settings.region.clone());
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
            // Plain Content-MD5-free bodies: every S3-compatible server takes them.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .force_path_style(
                settings
                    .force_path_style
                    .unwrap_or(settings.endpoint_url.is_some()),
            );
        if let Some(url) = &settings.endpoint_url {
            b = b.endpoint_url(url);
        }
        b = match settings.credentials {
            CredentialSource::Default => b.credentials_provider(Remembering {
                inner: DefaultChain {
                    region,
                    chain: Default::default(),
                },
                secrets: secrets.clone(),
            }),
            CredentialSource::Static(pair) => {
                secrets.remember(&pair);
                b.credentials_provider(Remembering {
                    inner: Fixed(pair),
                    secrets: secrets.clone(),
                })
            }
            CredentialSource::Provider(f) => b.credentials_provider(Remembering {
                inner: FromFn(f),
                secrets: secrets.clone(),
            }),
        };
        S3Store {
            client: aws_sdk_s3::Client::from_conf(b.build()),
            bucket: settings.bucket,
            kms_key_id: settings.kms_key_id,
            secrets,
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
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().unwrap_or_default().to_string();
        let (kind, maybe_applied) = match &err {
            SdkError::ConstructionFailure(_) => (StoreErrorKind::Other, false),
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => (StoreErrorKind::Transient, true),
            _ => match status.unwrap_or(0) {
                403 => (StoreErrorKind::AccessDenied, false),
                404 if code == "NoSuchBucket" => (StoreErrorKind::NoSuchBucket, false),
                408 | 429 | 500..=599 => (StoreErrorKind::Transient, true),
                400..=499 => (StoreErrorKind::BadRequest, false),
                _ => (StoreErrorKind::Other, true),
            },
        };
        let cause = match (&err, status) {
            (SdkError::ServiceError(_), Some(s)) if !code.is_empty() => {
                let message = err.message().unwrap_or("no message");
                let id = err
                    .meta()
                    .extra("aws_request_id")
                    .map(|id| format!(" (request id {id})"))
                    .unwrap_or_default();
                format!("HTTP {s} {code}: {message}{id}")
            }
            (_, Some(s)) => format!("HTTP {s}: {}", chain(&err)),
            _ => chain(&err),
        };
        StoreError {
            kind,
            operation,
            bucket: self.bucket.clone(),
            path: path.to_string(),
            status,
            cause: self.secrets.redact(&cause),
            maybe_applied,
        }
    }
}

/// An error and its sources, each by its Display: the cause without the
/// SDK's Debug dump of the raw response.
fn chain(err: &dyn std::error::Error) -> String {
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

fn status_of<E>(err: &SdkError<E, HttpResponse>) -> Option<u16> {
    match err {
        SdkError::ServiceError(_) => err.raw_response().map(|r| r.status().as_u16()),
        _ => None,
    }
}

impl Store for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
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
            // 400 for a version id the server cannot parse: no such version.
            Err(e) if status_of(&e) == Some(404) && e.code() != Some("NoSuchBucket") => {
                return Ok(None)
            }
            Err(e) if status_of(&e) == Some(400) && version_id.is_some() => return Ok(None),
            Err(e) => return Err(self.error("GetObject", path, e)),
        };
        let etag = out.e_tag.clone();
        let version_id = out.version_id.clone();
        let body = out.body.collect().await.map_err(|e| StoreError {
            kind: StoreErrorKind::Transient,
            operation: "GetObject",
            bucket: self.bucket.clone(),
            path: path.to_string(),
            status: None,
            cause: self
                .secrets
                .redact(&format!("reading the body: {}", chain(&e))),
            maybe_applied: false,
        })?;
        Ok(Some(Object {
            body: body.into_bytes().to_vec(),
            etag,
            version_id,
        }))
    }

    async fn head(&self, path: &str) -> StoreResult<Option<Meta>> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(path)
            .send()
            .await
        {
            Ok(out) => Ok(Some(Meta {
                etag: out.e_tag.unwrap_or_default(),
                version_id: out.version_id,
            })),
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.error("HeadObject", path, e)),
        }
    }

    async fn put(
        &self,
        path: &str,
        body: Vec<u8>,
        condition: Precondition,
    ) -> StoreResult<PutOutcome> {
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(path)
            .content_type("application/json")
            .body(ByteStream::from(body));
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
            Err(e) => match (status_of(&e), e.code()) {
                (Some(412), _) | (Some(409), _) => Ok(PutOutcome::PreconditionFailed),
                (Some(404), Some(code)) if code != "NoSuchBucket" => {
                    Ok(PutOutcome::PreconditionFailed)
                }
                _ => Err(self.error("PutObject", path, e)),
            },
        }
    }

    async fn list_versions(
        &self,
        path: &str,
        after: Option<&str>,
        max: u32,
    ) -> StoreResult<VersionPage> {
        let mut req = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(path)
            .max_keys(max as i32);
        if let Some(v) = after {
            // Always both markers: moto lists the marker key's own versions
            // again when only KeyMarker is given.
            req = req.key_marker(path).version_id_marker(v);
        }
        let out = req
            .send()
            .await
            .map_err(|e| self.error("ListObjectVersions", path, e))?;
        let mut page = VersionPage::default();
        // The prefix also matches longer paths (keys/a.json.x); those sort
        // after `path`, so the first other key ends this object's versions.
        let mut other_key_seen = false;
        for v in out.versions() {
            if v.key() != Some(path) {
                other_key_seen = true;
                continue;
            }
            if let Some(id) = v.version_id() {
                page.version_ids.push(id.to_string());
            }
        }
        let other_marker = out.delete_markers().iter().any(|m| m.key() != Some(path));
        if out.is_truncated() == Some(true)
            && !other_key_seen
            && !other_marker
            && out.next_key_marker() == Some(path)
        {
            page.next = out.next_version_id_marker().map(str::to_string);
        }
        Ok(page)
    }

    async fn list_paths(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        continuation: Option<&str>,
        max: u32,
    ) -> StoreResult<KeyPage> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_start_after(start_after.map(str::to_string))
            .set_continuation_token(continuation.map(str::to_string))
            .max_keys(max as i32)
            .send()
            .await
            .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
        Ok(KeyPage {
            paths: out
                .contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string))
                .collect(),
            continuation: if out.is_truncated() == Some(true) {
                out.next_continuation_token().map(str::to_string)
            } else {
                None
            },
        })
    }

    async fn versioning_enabled(&self) -> StoreResult<Option<bool>> {
        match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.status() == Some(&BucketVersioningStatus::Enabled))),
            Err(e) if matches!(status_of(&e), Some(403) | Some(501)) => Ok(None),
            // moto answers 200 with a root element the SDK rejects; read the
            // status from the raw body rather than lose the check.
            Err(e) if status_of(&e) == Some(200) => Ok(e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .map(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>"))),
            Err(e) => Err(self.error("GetBucketVersioning", "", e)),
        }
    }
}
