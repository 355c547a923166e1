//! What an audit holds in memory, measured with a counting allocator (a test
//! binary of its own: the allocator counts every thread of the process, so
//! no other test may run beside it).
//!
//! docs/PROTOCOL.md section 8: "Its memory does not grow with the values:
//! ... at most `readConcurrency` objects are held at once, in both halves."

use immukv_core::format::Json;
use immukv_core::storage::memory::MemoryStore;
use immukv_core::{Client, Options, VerifyOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = NOW.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        NOW.fetch_sub(layout.size(), Ordering::SeqCst);
        System.dealloc(p, layout)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: usize = 1 << 20;

/// The allocator counts every thread: one measurement at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Issue: the key-object half of `verifyLog` kept every version it read of a
/// key, value included, until that key was done: a key written 48 times
/// with 1 MiB values made the audit hold 48 MiB (and `readConcurrency` such
/// keys at once), where the documentation promises at most
/// `readConcurrency` objects.
#[tokio::test]
async fn an_audit_holds_a_few_objects_whatever_the_number_of_versions_of_a_key() {
    let _one = ONE_AT_A_TIME.lock().await;
    let store = Arc::new(MemoryStore::default());
    let opts = Options {
        repair_check_interval: Duration::ZERO,
        read_concurrency: 4,
        ..Options::default()
    };
    let c = Client::new(store.clone(), opts.clone()).unwrap();
    let versions = 48;
    for i in 0..versions {
        let big = format!("\"{}{}\"", i % 10, "x".repeat(MIB));
        c.set("big", &Json::from_js(big)).await.unwrap();
    }
    let ro = Client::new(
        store.clone(),
        Options {
            read_only: true,
            ..opts
        },
    )
    .unwrap();
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = ro.verify_log(&VerifyOptions::default()).await.unwrap();
    assert!(r.ok, "{:?}", r.failures);
    let held = PEAK.load(Ordering::SeqCst).saturating_sub(base) / MIB;
    println!("# audit peak: {held} MiB above the store for {versions} versions of 1 MiB");
    // readConcurrency (4) objects, each read (a copy of the body) and parsed
    // (its value), with room to spare: far below the 48 versions' values.
    assert!(
        held < 20,
        "the audit held {held} MiB at its peak for {versions} versions of 1 MiB, read 4 at a time"
    );
}

/// Issue (review): a verified `get` with a `trusted` digest reads every log
/// entry between the two and kept them all, values included, to check that
/// they link up: a digest saved 48 entries of 1 MiB ago cost 48 MiB, and
/// one saved a month ago on a busy store all of that month's values.
#[tokio::test]
async fn a_verified_get_against_an_old_digest_holds_a_few_objects() {
    let _one = ONE_AT_A_TIME.lock().await;
    let store = Arc::new(MemoryStore::default());
    let opts = Options {
        repair_check_interval: Duration::ZERO,
        read_concurrency: 4,
        ..Options::default()
    };
    let c = Client::new(store.clone(), opts.clone()).unwrap();
    c.set("small", &Json::from_js("1".into())).await.unwrap();
    let trusted = c.digest().await.unwrap().unwrap();
    let versions = 48;
    for i in 0..versions {
        let big = format!("\"{}{}\"", i % 10, "x".repeat(MIB));
        c.set("big", &Json::from_js(big)).await.unwrap();
    }
    c.set("small", &Json::from_js("2".into())).await.unwrap();
    let ro = Client::new(
        store.clone(),
        Options {
            read_only: true,
            ..opts
        },
    )
    .unwrap();
    let base = NOW.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let got = ro.get_verified("small", Some(&trusted)).await.unwrap();
    assert_eq!(got.value.as_str(), "2");
    let held = PEAK.load(Ordering::SeqCst).saturating_sub(base) / MIB;
    println!("# verified get peak: {held} MiB above the store across {versions} entries of 1 MiB");
    assert!(
        held < 20,
        "a verified get held {held} MiB at its peak across {versions} entries of 1 MiB, read 4 at a time"
    );
}
