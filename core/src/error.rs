//! The errors users see. Each has a stable code; storage failures carry the
//! S3 operation, the object and the cause (the SDK's error, as a real error
//! with its own sources). This is the one place that maps a store failure to
//! a user-facing error.

use crate::storage::{StoreError, StoreErrorKind};
use std::fmt;
use std::sync::Arc;

/// Stable error codes. New codes may be added in minor versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    InvalidConfig,
    InvalidKey,
    InvalidValue,
    InvalidArgument,
    KeyNotFound,
    VersionNotFound,
    ReadOnly,
    VersioningDisabled,
    /// `objectLock` is configured but the bucket has no Object Lock: nothing
    /// was written.
    ObjectLockDisabled,
    WriteConflict,
    AccessDenied,
    NoSuchBucket,
    /// Credentials could not be had or used (a provider failed, none found,
    /// or they are malformed).
    Credentials,
    Storage,
    CorruptEntry,
    /// The log's latest version is a delete marker: it has entries, but reads
    /// as absent. Writers refuse to start a new chain over it.
    LogDeleted,
    /// A caller's decoder failed on a stored value (raised by bindings).
    Decoder,
    /// The call was cancelled by its caller.
    Aborted,
    Closed,
    /// A bug: a panic or a broken invariant inside ImmuKV.
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 20] = [
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidKey,
        ErrorCode::InvalidValue,
        ErrorCode::InvalidArgument,
        ErrorCode::KeyNotFound,
        ErrorCode::VersionNotFound,
        ErrorCode::ReadOnly,
        ErrorCode::VersioningDisabled,
        ErrorCode::ObjectLockDisabled,
        ErrorCode::WriteConflict,
        ErrorCode::AccessDenied,
        ErrorCode::NoSuchBucket,
        ErrorCode::Credentials,
        ErrorCode::Storage,
        ErrorCode::CorruptEntry,
        ErrorCode::LogDeleted,
        ErrorCode::Decoder,
        ErrorCode::Aborted,
        ErrorCode::Closed,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidConfig => "INVALID_CONFIG",
            ErrorCode::InvalidKey => "INVALID_KEY",
            ErrorCode::InvalidValue => "INVALID_VALUE",
            ErrorCode::InvalidArgument => "INVALID_ARGUMENT",
            ErrorCode::KeyNotFound => "KEY_NOT_FOUND",
            ErrorCode::VersionNotFound => "VERSION_NOT_FOUND",
            ErrorCode::ReadOnly => "READ_ONLY",
            ErrorCode::VersioningDisabled => "VERSIONING_DISABLED",
            ErrorCode::ObjectLockDisabled => "OBJECT_LOCK_DISABLED",
            ErrorCode::WriteConflict => "WRITE_CONFLICT",
            ErrorCode::AccessDenied => "ACCESS_DENIED",
            ErrorCode::NoSuchBucket => "NO_SUCH_BUCKET",
            ErrorCode::Credentials => "CREDENTIALS_ERROR",
            ErrorCode::Storage => "STORAGE_ERROR",
            ErrorCode::CorruptEntry => "CORRUPT_ENTRY",
            ErrorCode::LogDeleted => "LOG_DELETED",
            ErrorCode::Decoder => "DECODER_ERROR",
            ErrorCode::Aborted => "ABORTED",
            ErrorCode::Closed => "CLIENT_CLOSED",
            ErrorCode::Internal => "INTERNAL_ERROR",
        }
    }
}

/// The error it came from, shareable so that errors can be cloned.
pub type Source = Arc<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// The S3 operation that failed, e.g. `PutObject`.
    pub operation: Option<&'static str>,
    pub bucket: Option<String>,
    pub path: Option<String>,
    /// For a failed `set`: whether the entry may be in the log all the same.
    /// `false` is a promise that it is not.
    pub may_have_committed: Option<bool>,
    pub(crate) source: Option<Source>,
    /// A storage failure that retrying may cure.
    pub(crate) transient: bool,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            operation: None,
            bucket: None,
            path: None,
            may_have_committed: None,
            source: None,
            transient: false,
        }
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidConfig, message)
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidArgument, message)
    }

    pub fn aborted() -> Self {
        Error::new(ErrorCode::Aborted, "the operation was aborted")
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Internal, message)
    }

    /// The same error with `source` as its cause.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Records, on a failed `set`, whether the entry may be in the log.
    pub fn with_commit_state(mut self, may_have_committed: bool) -> Self {
        if self.may_have_committed.is_some() {
            return self;
        }
        self.may_have_committed = Some(may_have_committed);
        if may_have_committed {
            self.message.push_str(
                " (the entry may have been committed: read the log before writing it again)",
            );
        } else {
            self.message.push_str(" (the entry was not committed)");
        }
        self
    }

    /// A stored object that is not a well-formed entry.
    pub fn corrupt(bucket: &str, path: &str, version: Option<&str>, detail: &str) -> Self {
        let at = version.map(|v| format!(" version {v}")).unwrap_or_default();
        Error {
            bucket: Some(bucket.into()),
            path: Some(path.into()),
            ..Error::new(
                ErrorCode::CorruptEntry,
                format!("s3://{bucket}/{path}{at} is not a valid ImmuKV entry: {detail}"),
            )
        }
    }

    /// Messages of the cause chain, outermost first.
    pub fn causes(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(self);
        while let Some(e) = cur {
            let text = e.to_string();
            if out.last() != Some(&text) {
                out.push(text);
            }
            cur = e.source();
        }
        out
    }

    /// The cause chain, for bindings that rebuild it in their own language.
    pub fn source_chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        std::iter::successors(std::error::Error::source(self), |e| e.source())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let code = match e.kind {
            StoreErrorKind::AccessDenied => ErrorCode::AccessDenied,
            StoreErrorKind::NoSuchBucket => ErrorCode::NoSuchBucket,
            StoreErrorKind::Credentials => ErrorCode::Credentials,
            StoreErrorKind::TooLarge => ErrorCode::CorruptEntry,
            _ => ErrorCode::Storage,
        };
        Error {
            code,
            transient: e.is_transient(),
            message: e.to_string(),
            operation: Some(e.operation),
            bucket: Some(e.bucket.clone()),
            path: Some(e.path.clone()),
            may_have_committed: None,
            source: Some(Arc::new(e)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("may_have_committed", &self.may_have_committed)
            .field("causes", &self.causes())
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as _)
    }
}
