//! The errors users see. Each has a stable code; storage failures carry the
//! S3 operation, the object and the cause. This is the one place that maps
//! a store failure to a user-facing error.

use crate::storage::{StoreError, StoreErrorKind};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidConfig,
    InvalidKey,
    InvalidValue,
    InvalidArgument,
    KeyNotFound,
    VersionNotFound,
    ReadOnly,
    VersioningDisabled,
    WriteConflict,
    AccessDenied,
    NoSuchBucket,
    Storage,
    CorruptEntry,
    Closed,
}

impl ErrorCode {
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
            ErrorCode::WriteConflict => "WRITE_CONFLICT",
            ErrorCode::AccessDenied => "ACCESS_DENIED",
            ErrorCode::NoSuchBucket => "NO_SUCH_BUCKET",
            ErrorCode::Storage => "STORAGE_ERROR",
            ErrorCode::CorruptEntry => "CORRUPT_ENTRY",
            ErrorCode::Closed => "CLIENT_CLOSED",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    /// The S3 operation that failed, e.g. `PutObject`.
    pub operation: Option<&'static str>,
    pub bucket: Option<String>,
    pub path: Option<String>,
    pub cause: Option<String>,
    /// For a failed `set`: whether the entry may be in the log all the same.
    /// `false` is a promise that it is not.
    pub may_have_committed: Option<bool>,
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
            cause: None,
            may_have_committed: None,
            transient: false,
        }
    }

    pub fn invalid_config(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::InvalidConfig, message)
    }

    pub fn with_commit_state(mut self, may_have_committed: bool) -> Self {
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
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        let code = match e.kind {
            StoreErrorKind::AccessDenied => ErrorCode::AccessDenied,
            StoreErrorKind::NoSuchBucket => ErrorCode::NoSuchBucket,
            _ => ErrorCode::Storage,
        };
        Error {
            code,
            transient: e.is_transient(),
            message: e.to_string(),
            operation: Some(e.operation),
            bucket: Some(e.bucket),
            path: Some(e.path),
            cause: Some(e.cause),
            may_have_committed: None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for Error {}
