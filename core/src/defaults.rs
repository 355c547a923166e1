//! Every default, in one place. Bindings and docs take them from here (the
//! README's config table is checked against [`ALL`] by a test).

use std::time::Duration;

/// Readers look for an orphan log head at most this often.
pub const REPAIR_CHECK_INTERVAL: Duration = Duration::from_millis(300_000);
/// Budget of one call, retries included.
pub const OPERATION_TIMEOUT: Duration = Duration::from_millis(30_000);
/// One HTTP attempt (a large value must upload within it).
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(10_000);
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Object reads in flight at once in bulk reads.
pub const READ_CONCURRENCY: usize = 32;
/// Objects per list request (S3's maximum).
pub const LIST_PAGE_SIZE: u32 = 1000;
/// Log PUTs a client may send before the key objects of its earlier
/// entries are written (1: the shared protocol, where only the head can be
/// an orphan).
pub const PIPELINE_DEPTH: u32 = 1;
/// The deepest pipeline a client may use: every writer after it reads this
/// many entries back to repair its orphans.
pub const MAX_PIPELINE_DEPTH: u32 = 64;
/// Largest value accepted by `set`, as canonical JSON bytes.
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Largest stored object any client reads: a forged giant is refused as
/// CORRUPT_ENTRY instead of exhausting the reader's memory (V8 aborts the
/// process on a JSON array of ~130 million elements; 64 MiB cannot hold
/// one). The same for every client, so that what one writes all can read.
pub const MAX_OBJECT_BYTES: usize = 64 * 1024 * 1024;
/// The most `maxValueBytes` may be: an entry's other fields (the key is at
/// most 1 KiB) fit in the rest of [`MAX_OBJECT_BYTES`].
pub const MAX_VALUE_BYTES_LIMIT: usize = MAX_OBJECT_BYTES - 64 * 1024;

/// The defaults by their config names, for bindings and docs.
pub const ALL: [(&str, u64); 8] = [
    (
        "repairCheckIntervalMs",
        REPAIR_CHECK_INTERVAL.as_millis() as u64,
    ),
    ("operationTimeoutMs", OPERATION_TIMEOUT.as_millis() as u64),
    ("requestTimeoutMs", REQUEST_TIMEOUT.as_millis() as u64),
    ("connectTimeoutMs", CONNECT_TIMEOUT.as_millis() as u64),
    ("readConcurrency", READ_CONCURRENCY as u64),
    ("listPageSize", LIST_PAGE_SIZE as u64),
    ("maxValueBytes", MAX_VALUE_BYTES as u64),
    ("pipelineDepth", PIPELINE_DEPTH as u64),
];
