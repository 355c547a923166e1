//! Secret redaction: every secret a credentials source hands over is
//! remembered, and removed from any error text before it leaves the store.

use std::sync::{Arc, RwLock};

/// Secret strings seen by one store's credentials sources.
#[derive(Clone, Default)]
pub struct Secrets(Arc<RwLock<Vec<String>>>);

/// Secrets kept (the latest few: credentials rotate, old ones stop mattering).
const KEPT: usize = 16;
/// Shorter strings would mangle every message; real secrets are long.
const SHORTEST: usize = 6;

impl Secrets {
    pub fn remember<'a>(&self, secrets: impl IntoIterator<Item = &'a str>) {
        let mut known = self.0.write().unwrap_or_else(|e| e.into_inner());
        for s in secrets {
            if s.len() >= SHORTEST && !known.iter().any(|k| k == s) {
                known.push(s.to_string());
            }
        }
        let excess = known.len().saturating_sub(KEPT);
        known.drain(..excess);
    }

    pub fn redact(&self, text: &str) -> String {
        let known = self.0.read().unwrap_or_else(|e| e.into_inner());
        known
            .iter()
            .fold(text.to_string(), |t, s| t.replace(s.as_str(), "[redacted]"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_secrets_are_removed() {
        let s = Secrets::default();
        s.remember(["wJalrXUtnFEMI/K7MDENG", "abc"]);
        assert_eq!(
            s.redact("signing with wJalrXUtnFEMI/K7MDENG failed (abc)"),
            "signing with [redacted] failed (abc)"
        );
    }
}
