//! A bucket's lifecycle rules and what they mean for a store: which object
//! versions S3 itself may expire (so that an audit does not call their
//! absence tampering) or move out of reach. Pure: the storage layer reads
//! the configuration, the audit and the bucket doctor ask it questions.

/// One lifecycle rule, reduced to what concerns ImmuKV's objects.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// The rule's ID, when it has one.
    pub id: Option<String>,
    /// `Status: Enabled`.
    pub enabled: bool,
    /// The key prefix it applies to (`""`: the whole bucket).
    pub prefix: String,
    /// It also filters on object tags. ImmuKV writes no tags, so such a rule
    /// never applies to its objects.
    pub needs_tags: bool,
    /// It also filters on object size (`ObjectSizeGreaterThan`,
    /// `ObjectSizeLessThan`): whether it removed a version depends on that
    /// version's size, which went with it, so it cannot tell expiry from
    /// deletion.
    pub sized: bool,
    /// Current versions expire (on a versioned bucket: a delete marker is
    /// put on top) this many days after they were written, or on `expiration_date`.
    pub expiration_days: Option<u32>,
    pub expiration_date: Option<String>,
    /// Noncurrent versions are removed this many days after they became
    /// noncurrent...
    pub noncurrent_days: Option<u32>,
    /// ...except the newest this many noncurrent versions.
    pub newer_noncurrent: Option<u32>,
    /// Current versions move to this storage class after `.1` days
    /// (`GLACIER` and `DEEP_ARCHIVE` cannot be read without a restore).
    pub transition: Option<(u32, String)>,
    /// Noncurrent versions move to this storage class after `.1` days.
    pub noncurrent_transition: Option<(u32, String)>,
}

impl Rule {
    /// The rule acts on the object at `path`.
    pub fn applies_to(&self, path: &str) -> bool {
        self.enabled && !self.needs_tags && path.starts_with(&self.prefix)
    }

    /// The rule removes noncurrent versions of the objects it applies to.
    pub fn expires_noncurrent(&self) -> bool {
        self.noncurrent_days.is_some()
    }

    /// How the rule is named in messages.
    pub fn name(&self) -> String {
        match &self.id {
            Some(id) if !id.is_empty() => format!("lifecycle rule {id:?}"),
            _ => format!("the lifecycle rule on prefix {:?}", self.prefix),
        }
    }

    /// What it does to noncurrent versions, in words.
    pub fn noncurrent_expiry(&self) -> String {
        let days = self.noncurrent_days.map_or_else(String::new, |d| {
            format!("{d} days after they become noncurrent")
        });
        match self.newer_noncurrent {
            Some(n) => format!("removes noncurrent versions {days}, keeping the newest {n}"),
            None => format!("removes noncurrent versions {days}"),
        }
    }
}

/// A bucket's lifecycle configuration, as far as it could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// The configuration was read: these rules (none when the bucket has no
    /// lifecycle configuration).
    Rules(Vec<Rule>),
    /// It could not be read (not permitted, or the server does not
    /// implement it): why.
    Unknown(String),
}

impl Lifecycle {
    /// The first enabled rule that removes noncurrent versions of `path`
    /// whatever their size.
    pub fn expiring(&self, path: &str) -> Option<&Rule> {
        self.may_expire(path).into_iter().find(|r| !r.sized)
    }

    /// Every enabled rule that may remove noncurrent versions of `path`
    /// (those with a size filter included): S3 removes a version as soon as
    /// any of them says so.
    pub fn may_expire(&self, path: &str) -> Vec<&Rule> {
        match self {
            Lifecycle::Rules(rules) => rules
                .iter()
                .filter(|r| r.applies_to(path) && r.expires_noncurrent())
                .collect(),
            Lifecycle::Unknown(_) => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(prefix: &str) -> Rule {
        Rule {
            id: Some("r".into()),
            enabled: true,
            prefix: prefix.into(),
            noncurrent_days: Some(30),
            ..Rule::default()
        }
    }

    #[test]
    fn a_rule_applies_by_prefix_when_enabled_and_without_tags() {
        let l = Lifecycle::Rules(vec![rule("audit/")]);
        assert!(l.expiring("audit/_log.json").is_some());
        assert!(l.expiring("other/_log.json").is_none());
        let off = Lifecycle::Rules(vec![Rule {
            enabled: false,
            ..rule("")
        }]);
        assert!(off.expiring("_log.json").is_none());
        let tagged = Lifecycle::Rules(vec![Rule {
            needs_tags: true,
            ..rule("")
        }]);
        assert!(tagged.expiring("_log.json").is_none());
        let sized = Lifecycle::Rules(vec![Rule {
            sized: true,
            ..rule("")
        }]);
        assert!(sized.expiring("_log.json").is_none());
        assert_eq!(sized.may_expire("_log.json").len(), 1);
        let current_only = Lifecycle::Rules(vec![Rule {
            noncurrent_days: None,
            expiration_days: Some(1),
            ..rule("")
        }]);
        assert!(current_only.expiring("_log.json").is_none());
        assert!(Lifecycle::Unknown("403".into())
            .expiring("_log.json")
            .is_none());
    }
}
