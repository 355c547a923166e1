//! Runs the deterministic simulation over many seeds and prints what it
//! found. `npm run sim -- --seeds 100000` (or cargo run --release -p
//! immukv-core --features sim --example sim -- --seeds 100000).
//!   --seeds N      how many seeds (default 10000)
//!   --start S      first seed (default 0)
//!   --seed S       replay one seed and print its outcome
//!   --tamper       tamper mode
//!   --clients N, --ops N, --keys N

use immukv_core::sim::{self, Config};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |name: &str, d: u64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(|v| v.parse().expect(name))
            .unwrap_or(d)
    };
    let mut cfg = Config {
        tamper: args.iter().any(|a| a == "--tamper"),
        ..Config::default()
    };
    cfg.clients = num("--clients", cfg.clients as u64) as usize;
    cfg.ops_per_client = num("--ops", cfg.ops_per_client as u64) as usize;
    cfg.keys = num("--keys", cfg.keys as u64) as usize;
    if args.iter().any(|a| a == "--seed") {
        let out = sim::run(num("--seed", 0), &cfg);
        println!("{out:#?}");
        std::process::exit(i32::from(!out.violations.is_empty()));
    }
    let (start, n) = (num("--start", 0), num("--seeds", 10_000));
    let t0 = Instant::now();
    let mut bad = Vec::new();
    let (mut acked, mut failed, mut entries) = (0, 0, 0);
    for seed in start..start + n {
        let out = sim::run(seed, &cfg);
        acked += out.acknowledged;
        failed += out.failed;
        entries += out.log_entries;
        if !out.violations.is_empty() {
            println!("seed {seed}: {:?}", out.violations);
            bad.push(seed);
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{n} seeds in {secs:.1} s: {:.0} seeds/s; {acked} sets acknowledged, {failed} failed, {entries} log entries; {} seeds broke invariants {bad:?}",
        n as f64 / secs,
        bad.len()
    );
    std::process::exit(i32::from(!bad.is_empty()));
}
