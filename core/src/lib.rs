//! ImmuKV core: an immutable, tamper-evident key-value store that needs
//! nothing but a versioned S3 bucket.
//!
//! Layers, bottom up:
//! - [`format`]: canonical JSON, hashing, the stored objects, where they
//!   live and which keys can live there (pure).
//! - [`verify`]: chain and digest checks over entries already read (pure).
//! - [`lifecycle`], [`bucket`]: a bucket's lifecycle rules, versioning,
//!   Object Lock, default encryption and a version's retention, and what
//!   they mean for a store; [`doctor`]: the bucket doctor's verdicts;
//!   [`policy`]: the IAM policy a store needs (all pure).
//! - [`storage`]: the object-store interface, S3 (aws-sdk-s3), an in-memory
//!   store, and a counting wrapper.
//! - [`client`]: runs the write, repair and read protocol over a store, on
//!   an injected [`env::Env`] (clock, randomness, tasks).
//!
//! ```no_run
//! use immukv_core::storage::s3::S3Settings;
//! use immukv_core::{Client, Json, Options, VerifyOptions};
//!
//! # async fn run() -> immukv_core::Result<()> {
//! let mut s3 = S3Settings::new("my-bucket");
//! s3.region = Some("us-east-1".into());
//! let client = Client::connect(s3, Options { prefix: "audit/".into(), ..Options::default() })?;
//! let entry = client.set("device-42", &Json::parse(r#"{"gain": 1.02}"#).unwrap()).await?;
//! assert_eq!(client.get("device-42").await?.hash, entry.hash);
//! assert!(client.verify_log(&VerifyOptions::default()).await?.ok);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod bucket;
pub mod client;
pub mod defaults;
pub mod doctor;
pub mod env;
pub mod error;
pub mod format;
pub mod lifecycle;
pub mod policy;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stats;
pub mod storage;
pub mod verify;

pub use client::{Client, Options, VerifyOptions};
pub use error::{Error, ErrorCode, Result};
pub use format::{Entry, Json};
pub use stats::StatsSnapshot;
pub use verify::{Digest, Failure, FailureKind, Report};
