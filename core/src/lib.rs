//! ImmuKV core: an immutable, tamper-evident key-value store that needs
//! nothing but a versioned S3 bucket.
//!
//! Layers, bottom up:
//! - [`format`]: canonical JSON, hashing, the stored objects (pure).
//! - [`verify`]: chain and digest checks over entries already read (pure).
//! - [`storage`]: the object-store interface, its S3 implementation and an
//!   in-memory one for protocol tests.
//! - [`client`]: runs the write, repair and read protocol over a store.

pub mod client;
pub mod error;
pub mod format;
pub mod storage;
pub mod verify;

pub use client::{Client, Options, VerifyOptions};
pub use error::{Error, ErrorCode, Result};
pub use format::Entry;
pub use verify::{Digest, Failure, FailureKind, Report};
