//! Structured logs from the core, switched on by one environment variable:
//! `IMMUKV_LOG=debug` (or `info`, `trace`, or per module, e.g.
//! `immukv::call=debug,immukv::s3=trace`), written to stderr: at debug a
//! line per call (`immukv::call`) and what the protocol did, at trace every
//! request too (`immukv::s3`). Only ImmuKV's own events pass: the AWS SDK's
//! internals (which at trace level print request headers) never do. The
//! core never logs a secret.

use std::str::FromStr;
use std::sync::Once;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

pub const VAR: &str = "IMMUKV_LOG";

/// Installs the stderr logger once per process, when `IMMUKV_LOG` is set.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(spec) = std::env::var(VAR) else { return };
        let spec = spec.trim();
        if spec.is_empty() || spec == "off" {
            return;
        }
        // A bare level applies to every ImmuKV target.
        let targets = match LevelFilter::from_str(spec) {
            Ok(level) => Targets::new().with_target("immukv", level),
            Err(_) => match Targets::from_str(spec) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("immukv: ignoring {VAR}={spec:?}: {e}");
                    return;
                }
            },
        };
        let only_ours = tracing_subscriber::filter::filter_fn(|m| m.target().starts_with("immukv"));
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .with_target(true)
            .with_filter(only_ours)
            .with_filter(targets);
        let _ = tracing_subscriber::registry().with(layer).try_init();
    });
}
