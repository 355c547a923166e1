//! Where S3 credentials come from: AWS's default chain, static keys, or a
//! caller's function. Each source is wrapped so that its secrets are known
//! to [`Secrets`] and what it returns is checked before the signer sees it.
//!
//! A caller's function is waited for until the request's
//! `requestTimeoutMs` (counted from when the request was sent) runs out, by
//! every request and so by every call (`verifyLog`, which no
//! operationTimeoutMs bounds, too): one that never settles fails each call
//! with a CREDENTIALS_ERROR that says so. (The SDK's timeout of the attempt,
//! the same length, starts after the request was sent: this one ends first,
//! so the error is never a bare timeout that would be retried.) A call whose
//! operationTimeoutMs runs out first says it was waiting for credentials
//! (client/calls.rs).

use super::redact::Secrets;
use aws_credential_types::provider::{self, error::CredentialsError, ProvideCredentials};
use aws_credential_types::Credentials;
use aws_sdk_s3::config::Region;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Credentials as a caller hands them over.
#[derive(Clone)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// When they stop working (epoch ms); they are asked for again before then.
    pub expires_at_ms: Option<u64>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// What the request signer needs: non-empty keys of visible ASCII. A
    /// newline in a key, for one, would make the signer panic.
    pub fn check(&self) -> Result<(), String> {
        let field = |name: &str, v: &str| -> Result<(), String> {
            if v.is_empty() {
                return Err(format!("{name} is empty"));
            }
            if !v.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!(
                    "{name} contains whitespace, control or non-ASCII characters"
                ));
            }
            Ok(())
        };
        field("accessKeyId", &self.access_key_id)?;
        field("secretAccessKey", &self.secret_access_key)?;
        if let Some(t) = &self.session_token {
            field("sessionToken", t)?;
        }
        Ok(())
    }

    fn secrets(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.secret_access_key.as_str()).chain(self.session_token.as_deref())
    }
}

/// The error a credentials function reports.
pub type ProviderError = Box<dyn std::error::Error + Send + Sync>;
pub type CredentialsFuture = Pin<Box<dyn Future<Output = Result<KeyPair, ProviderError>> + Send>>;
/// An async function returning credentials, called again before they expire.
pub type CredentialsFn = Arc<dyn Fn() -> CredentialsFuture + Send + Sync>;

/// Where credentials come from.
#[derive(Clone, Default)]
pub enum CredentialSource {
    /// AWS's default chain: environment, shared config/profile, web identity,
    /// container and instance roles.
    #[default]
    DefaultChain,
    Static(KeyPair),
    Function(CredentialsFn),
}

impl fmt::Debug for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialSource::DefaultChain => "DefaultChain",
            CredentialSource::Static(_) => "Static",
            CredentialSource::Function(_) => "Function",
        })
    }
}

/// Without an expiry, a function's credentials are asked for again this often.
pub const FUNCTION_REFRESH: Duration = Duration::from_secs(15 * 60);

/// A failed load is reported to every request that asks within this long,
/// instead of asking the source again: one failure, one call of a function.
const FAILURE_TTL: Duration = Duration::from_secs(2);

/// How much longer than our own bound on a credentials function the SDK's
/// identity cache waits, so that ours speaks first (its timeout is no
/// CREDENTIALS_ERROR and says nothing of the function).
const SDK_LOAD_MARGIN: Duration = Duration::from_secs(2);

/// The SDK's identity cache for a source: for a function, its own bound on
/// a load is set beyond ours; otherwise the SDK's default.
pub(super) fn identity_cache(
    source: &CredentialSource,
    request_timeout: Duration,
) -> aws_sdk_s3::config::SharedIdentityCache {
    let cache = aws_sdk_s3::config::IdentityCache::lazy();
    match source {
        CredentialSource::Function(_) => cache.load_timeout(request_timeout + SDK_LOAD_MARGIN),
        _ => cache,
    }
    .build()
}

/// The SDK-facing provider for a [`CredentialSource`].
pub(super) struct Provider {
    source: Source,
    secrets: Secrets,
    /// How long after a request was sent it stops waiting for a credentials
    /// function (requestTimeoutMs).
    function_timeout: Duration,
    /// Loads one at a time; the last failure, and when it happened.
    loading: tokio::sync::Mutex<Option<(std::time::Instant, Arc<CredentialsError>)>>,
}

enum Source {
    DefaultChain {
        region: Region,
        chain: tokio::sync::OnceCell<
            aws_config::default_provider::credentials::DefaultCredentialsChain,
        >,
    },
    Static(KeyPair),
    Function(CredentialsFn),
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.source {
            Source::DefaultChain { .. } => "immukv default credentials chain",
            Source::Static(_) => "immukv static credentials", // never print the secret
            Source::Function(_) => "immukv credentials function",
        })
    }
}

impl Provider {
    pub(super) fn new(
        source: CredentialSource,
        region: Region,
        secrets: Secrets,
        request_timeout: Duration,
    ) -> Provider {
        let source = match source {
            CredentialSource::DefaultChain => Source::DefaultChain {
                region,
                chain: Default::default(),
            },
            CredentialSource::Static(pair) => {
                secrets.remember(pair.secrets());
                Source::Static(pair)
            }
            CredentialSource::Function(f) => Source::Function(f),
        };
        Provider {
            source,
            secrets,
            function_timeout: request_timeout,
            loading: tokio::sync::Mutex::new(None),
        }
    }

    /// [`Provider::load`], once at a time, with a recent failure reused.
    /// `sent`: when the request that asks was sent.
    async fn load_once(&self, sent: Instant) -> Result<KeyPair, CredentialsError> {
        let mut last = self.loading.lock().await;
        if let Some((at, e)) = last.as_ref() {
            if at.elapsed() < FAILURE_TTL {
                return Err(CredentialsError::provider_error(Again(e.clone())));
            }
        }
        match self.load(sent).await {
            Ok(pair) => {
                *last = None;
                Ok(pair)
            }
            Err(e) => {
                let e = Arc::new(e);
                *last = Some((std::time::Instant::now(), e.clone()));
                Err(CredentialsError::provider_error(Again(e)))
            }
        }
    }

    async fn load(&self, sent: Instant) -> Result<KeyPair, CredentialsError> {
        let pair = match &self.source {
            Source::Static(pair) => pair.clone(),
            Source::Function(f) => {
                let until = tokio::time::Instant::from_std(sent + self.function_timeout);
                let answer = tokio::time::timeout_at(until, f()).await.map_err(|_| {
                    CredentialsError::provider_error(NotSettled(self.function_timeout))
                })?;
                let mut pair = answer.map_err(|e| {
                    CredentialsError::provider_error(FunctionFailed(
                        self.secrets.redact(&e.to_string()),
                        e,
                    ))
                })?;
                if pair.expires_at_ms.is_none() {
                    pair.expires_at_ms = Some(epoch_ms(SystemTime::now() + FUNCTION_REFRESH));
                }
                pair
            }
            Source::DefaultChain { region, chain } => {
                let chain = chain
                    .get_or_init(|| {
                        aws_config::default_provider::credentials::DefaultCredentialsChain::builder(
                        )
                        .region(region.clone())
                        .build()
                    })
                    .await;
                let c = chain
                    .provide_credentials()
                    .await
                    .map_err(|e| CredentialsError::not_loaded(NoneFound(e)))?;
                KeyPair {
                    access_key_id: c.access_key_id().to_string(),
                    secret_access_key: c.secret_access_key().to_string(),
                    session_token: c.session_token().map(str::to_string),
                    expires_at_ms: c.expiry().map(epoch_ms),
                }
            }
        };
        self.secrets.remember(pair.secrets());
        pair.check()
            .map_err(|why| CredentialsError::invalid_configuration(Invalid(why)))?;
        Ok(pair)
    }
}

impl ProvideCredentials for Provider {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            // The client's timeouts say what they were waiting for.
            let waiting = crate::stats::Stats::waiting_for_credentials();
            let sent = waiting.as_ref().map_or_else(Instant::now, |w| w.sent());
            let pair = self.load_once(sent).await?;
            Ok(Credentials::new(
                pair.access_key_id,
                pair.secret_access_key,
                pair.session_token,
                pair.expires_at_ms
                    .map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
                "immukv",
            ))
        })
    }
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A credentials function threw or rejected; the message is redacted, the
/// original kept as the source.
#[derive(Debug)]
pub struct FunctionFailed(pub String, pub ProviderError);

impl fmt::Display for FunctionFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the credentials function failed: {}", self.0)
    }
}

impl std::error::Error for FunctionFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.1.as_ref())
    }
}

/// A credentials function that has not settled within requestTimeoutMs.
#[derive(Debug)]
pub struct NotSettled(Duration);

impl fmt::Display for NotSettled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the credentials function has not settled within requestTimeoutMs ({} ms); \
             every request waits for it at most that long",
            self.0.as_millis()
        )
    }
}

impl std::error::Error for NotSettled {}

/// The default chain found nothing: say what it tried.
#[derive(Debug)]
pub struct NoneFound(CredentialsError);

impl fmt::Display for NoneFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
        write!(
            f,
            "no AWS credentials found; tried, in order: the environment (AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY), the shared config and credentials files (profile {profile:?}), \
             a web identity token (AWS_WEB_IDENTITY_TOKEN_FILE), the ECS container endpoint and \
             the EC2 instance metadata service. Set one of these, or pass overrides.credentials"
        )
    }
}

impl std::error::Error for NoneFound {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Credentials that the signer cannot use.
#[derive(Debug)]
pub struct Invalid(pub String);

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the credentials are not usable: {}", self.0)
    }
}

impl std::error::Error for Invalid {}

/// A failure shared by the requests that asked for credentials together.
#[derive(Debug)]
struct Again(Arc<CredentialsError>);

impl fmt::Display for Again {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Again {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(self.0.as_ref())
    }
}
