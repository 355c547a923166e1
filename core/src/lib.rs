//! ImmuKV core: an immutable, tamper-evident key-value store that needs
//! nothing but a versioned S3 bucket.
//!
//! Layers, bottom up:
//! - [`format`]: canonical JSON, hashing, the stored objects (pure).
//! - [`verify`]: chain and digest checks over entries already read (pure).
//! - [`storage`]: the object-store interface, its S3 implementation and an
//!   in-memory one for protocol tests.
//! - [`client`]: runs the write, repair and read protocol over a store.

pub mod format;
