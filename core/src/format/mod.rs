//! The storage format: canonical JSON, hashing and the stored objects.
//! Pure functions only; nothing here does I/O.

pub mod canonical;
pub mod entry;
pub mod hash;

pub use canonical::Dialect;
pub use entry::{Entry, ParseError};
