//! The storage format: canonical JSON, hashing, the stored objects and
//! where they live. Pure functions only; nothing here does I/O.

pub mod canonical;
pub mod entry;
pub mod hash;
pub mod layout;
pub mod value;

pub use canonical::{Dialect, NotRepresentable};
pub use entry::{Entry, Link, ParseError};
pub use layout::Layout;
pub use value::Json;

/// Deepest value `set` accepts (`[]` is 1). The earlier Python client reads
/// with the `json` module, which gives up near 1000 levels of nesting under
/// Python's default recursion limit (a stored object adds one level, its own
/// call stack some more); every client must read what we write. Readers here
/// accept any depth.
pub const MAX_VALUE_DEPTH: usize = 900;

/// The largest sequence number an entry may carry: 2^53 − 1, the largest
/// integer a JavaScript client holds exactly. A stored entry above it is
/// corrupt (a real log never gets there), which also keeps `sequence + 1`
/// from overflowing on a crafted entry.
pub const MAX_SEQUENCE: u64 = (1 << 53) - 1;
