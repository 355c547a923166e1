//! The least-privilege IAM policy for a store: exactly the S3 (and KMS)
//! actions this client sends, on the bucket and the prefix, and no Delete
//! action of any kind. Pure; `immukv policy` prints it.
//!
//! Shaped like the policies of the earlier clients' infrastructure
//! construct (read-write and read-only per prefix): object actions on
//! `arn:aws:s3:::BUCKET/PREFIX*`, the two listings on the bucket with an
//! `s3:prefix` condition. It adds what this client also sends: the bucket
//! settings it reads (versioning before a new log's first write; lifecycle
//! rules and Object Lock for `verifyLog`; all of them, and default
//! encryption, for the doctor), GetObjectRetention (`checkRetention`),
//! PutObjectRetention for writes with `objectLock`, and KMS for `kmsKeyId`.
//! The construct's `s3:HeadObject` is left out: it is no IAM action
//! (HeadObject is allowed by `s3:GetObject`).

use serde_json::{json, Value};

/// What the policy is for.
#[derive(Clone, Debug)]
pub struct Scope<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    /// The region, for KMS key ARNs and the partition (`aws-cn` in China).
    pub region: &'a str,
    pub kms_key_id: Option<&'a str>,
    /// Writes ask for Object Lock retention (`objectLock`).
    pub object_lock: bool,
    /// Only what reads, `verifyLog` and the doctor need: no PutObject.
    pub read_only: bool,
}

/// Object actions, on `BUCKET/PREFIX*`.
pub fn object_actions(scope: &Scope) -> Vec<&'static str> {
    let mut a = vec![
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectRetention",
    ];
    if !scope.read_only {
        a.push("s3:PutObject");
        if scope.object_lock {
            a.push("s3:PutObjectRetention");
        }
    }
    a
}

/// The listings, on the bucket, for names under the prefix.
pub const LIST_ACTIONS: [&str; 2] = ["s3:ListBucket", "s3:ListBucketVersions"];

/// The bucket settings read (none is ever written).
pub const SETTINGS_ACTIONS: [&str; 4] = [
    "s3:GetBucketVersioning",
    "s3:GetLifecycleConfiguration",
    "s3:GetBucketObjectLockConfiguration",
    "s3:GetEncryptionConfiguration",
];

/// KMS actions on `kmsKeyId`, when set.
pub fn kms_actions(scope: &Scope) -> Vec<&'static str> {
    match (scope.kms_key_id, scope.read_only) {
        (None, _) => Vec::new(),
        (Some(_), true) => vec!["kms:Decrypt"],
        (Some(_), false) => vec!["kms:Decrypt", "kms:GenerateDataKey"],
    }
}

/// The AWS partition of a region (`arn:aws-cn:...` in China).
fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else {
        "aws"
    }
}

/// A prefix as an IAM resource or condition pattern matches it literally:
/// `*`, `?` and `$` are IAM's own characters there.
fn literal(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        match c {
            '*' => out.push_str("${*}"),
            '?' => out.push_str("${?}"),
            '$' => out.push_str("${$}"),
            c => out.push(c),
        }
    }
    out
}

/// The KMS statement's resource (and condition, for an alias: IAM matches
/// keys, so an alias is named by `kms:ResourceAliases`).
fn kms_resource(key: &str, partition: &str, region: &str) -> (String, Option<Value>) {
    let by_alias = |alias: &str, arn_prefix: String| {
        (
            format!("{arn_prefix}:key/*"),
            Some(json!({ "ForAnyValue:StringEquals": { "kms:ResourceAliases": alias } })),
        )
    };
    if let Some(rest) = key.strip_prefix("arn:") {
        // arn:PARTITION:kms:REGION:ACCOUNT:key/ID or ...:alias/NAME
        return match rest.split_once(":alias/") {
            Some((head, name)) => by_alias(&format!("alias/{name}"), format!("arn:{head}")),
            None => (key.to_string(), None),
        };
    }
    if key.starts_with("alias/") {
        return by_alias(key, format!("arn:{partition}:kms:{region}:*"));
    }
    (format!("arn:{partition}:kms:{region}:*:key/{key}"), None)
}

/// The policy document.
pub fn document(scope: &Scope) -> Value {
    let p = partition(scope.region);
    let bucket_arn = format!("arn:{p}:s3:::{}", scope.bucket);
    let prefix = literal(scope.prefix);
    let mut list = json!({
        "Sid": "ImmuKVList",
        "Effect": "Allow",
        "Action": LIST_ACTIONS,
        "Resource": bucket_arn,
    });
    // As the construct: no condition for the whole bucket.
    if !scope.prefix.is_empty() {
        list["Condition"] = json!({ "StringLike": { "s3:prefix": format!("{prefix}*") } });
    }
    let mut statements = vec![
        json!({
            "Sid": "ImmuKVObjects",
            "Effect": "Allow",
            "Action": object_actions(scope),
            "Resource": format!("{bucket_arn}/{prefix}*"),
        }),
        list,
        json!({
            "Sid": "ImmuKVBucketSettings",
            "Effect": "Allow",
            "Action": SETTINGS_ACTIONS,
            "Resource": bucket_arn,
        }),
    ];
    if let Some(key) = scope.kms_key_id {
        let (resource, condition) = kms_resource(key, p, scope.region);
        let mut kms = json!({
            "Sid": "ImmuKVKms",
            "Effect": "Allow",
            "Action": kms_actions(scope),
            "Resource": resource,
        });
        if let Some(c) = condition {
            kms["Condition"] = c;
        }
        statements.push(kms);
    }
    json!({ "Version": "2012-10-17", "Statement": statements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope() -> Scope<'static> {
        Scope {
            bucket: "b",
            prefix: "audit/",
            region: "eu-west-1",
            kms_key_id: None,
            object_lock: false,
            read_only: false,
        }
    }

    fn actions(doc: &Value) -> Vec<String> {
        let mut all: Vec<String> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["Action"].as_array().unwrap().clone())
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        all.sort();
        all
    }

    #[test]
    fn no_delete_and_put_only_for_writers() {
        for read_only in [false, true] {
            for object_lock in [false, true] {
                let doc = document(&Scope {
                    read_only,
                    object_lock,
                    kms_key_id: Some("k"),
                    ..scope()
                });
                let a = actions(&doc);
                assert!(a
                    .iter()
                    .all(|a| !a.contains("Delete") && !a.contains("Bypass")));
                assert_eq!(a.contains(&"s3:PutObject".to_string()), !read_only);
                assert_eq!(
                    a.contains(&"s3:PutObjectRetention".to_string()),
                    !read_only && object_lock
                );
                assert_eq!(a.contains(&"kms:GenerateDataKey".to_string()), !read_only);
            }
        }
    }

    #[test]
    fn resources_are_the_prefix_and_the_bucket() {
        let doc = document(&scope());
        assert_eq!(doc["Statement"][0]["Resource"], "arn:aws:s3:::b/audit/*");
        assert_eq!(doc["Statement"][1]["Resource"], "arn:aws:s3:::b");
        assert_eq!(
            doc["Statement"][1]["Condition"]["StringLike"]["s3:prefix"],
            "audit/*"
        );
        let whole = document(&Scope {
            prefix: "",
            region: "cn-north-1",
            ..scope()
        });
        assert_eq!(whole["Statement"][0]["Resource"], "arn:aws-cn:s3:::b/*");
        assert!(whole["Statement"][1].get("Condition").is_none());
        let odd = document(&Scope {
            prefix: "a*b?",
            ..scope()
        });
        assert_eq!(
            odd["Statement"][0]["Resource"],
            "arn:aws:s3:::b/a${*}b${?}*"
        );
    }

    #[test]
    fn kms_keys_by_id_arn_or_alias() {
        let k = |key| kms_resource(key, "aws", "eu-west-1");
        assert_eq!(k("1234").0, "arn:aws:kms:eu-west-1:*:key/1234");
        let arn = "arn:aws:kms:eu-west-1:111122223333:key/1234";
        assert_eq!(k(arn), (arn.to_string(), None));
        let (r, c) = k("alias/audit");
        assert_eq!(r, "arn:aws:kms:eu-west-1:*:key/*");
        assert_eq!(
            c.unwrap()["ForAnyValue:StringEquals"]["kms:ResourceAliases"],
            "alias/audit"
        );
        let (r, c) = k("arn:aws:kms:eu-west-1:111122223333:alias/audit");
        assert_eq!(r, "arn:aws:kms:eu-west-1:111122223333:key/*");
        assert!(c.is_some());
    }
}
