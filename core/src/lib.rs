//! ImmuKV core: an immutable, tamper-evident key-value store that needs
//! nothing but a versioned S3 bucket.
//!
//! Layers, bottom up:
//! - [`format`]: canonical JSON, hashing, the stored objects (pure).
//! - [`verify`]: chain and digest checks over entries already read (pure).
//! - [`storage`]: the object-store interface, its S3 implementation and an
//!   in-memory one for protocol tests.
//! - [`client`]: runs the write, repair and read protocol over a store.
//!
//! ```no_run
//! use immukv_core::storage::s3::{CredentialSource, S3Settings};
//! use immukv_core::{Client, Options, VerifyOptions};
//! use std::time::Duration;
//!
//! # async fn run() -> immukv_core::Result<()> {
//! let s3 = S3Settings {
//!     bucket: "my-bucket".into(),
//!     region: "us-east-1".into(),
//!     endpoint_url: None,
//!     force_path_style: None,
//!     credentials: CredentialSource::Default,
//!     kms_key_id: None,
//!     request_timeout: Duration::from_secs(10),
//!     connect_timeout: Duration::from_secs(2),
//! };
//! let client = Client::connect(s3, Options { prefix: "audit/".into(), ..Options::default() })?;
//! let entry = client.set("device-42", serde_json::json!({"gain": 1.02})).await?;
//! assert_eq!(client.get("device-42").await?.hash, entry.hash);
//! assert!(client.verify_log(&VerifyOptions::default()).await?.ok);
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod error;
pub mod format;
pub mod storage;
pub mod verify;

pub use client::{Client, Options, VerifyOptions};
pub use error::{Error, ErrorCode, Result};
pub use format::Entry;
pub use verify::{Digest, Failure, FailureKind, Report};
