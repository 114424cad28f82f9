//! Policy documents: parsing with validation, and deciding a request.

use serde_json::{Map, Value};

use crate::condition::Condition;
use crate::wildcard;
use crate::{Caller, Decision, Request};

/// Where a policy is attached, which decides whether it names principals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Attached to a user or group: no `Principal`; the principal is the caller.
    Identity,
    /// Attached to a resource (a bucket policy): every statement names its principals.
    Resource,
}

/// Why a document is not a valid policy (S3's `MalformedPolicy`, IAM's
/// `MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn bad(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

/// A parsed, valid policy.
#[derive(Debug, Clone)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone)]
struct Statement {
    allow: bool,
    principal: Option<Matcher<Principals>>,
    action: Matcher<Vec<String>>,
    resource: Option<Matcher<Vec<String>>>,
    conditions: Vec<Condition>,
}

/// A list that the request must match (`Action`) or must not match (`NotAction`).
#[derive(Debug, Clone)]
struct Matcher<T> {
    items: T,
    negated: bool,
}

#[derive(Debug, Clone, Default)]
struct Principals {
    any: bool,
    /// Account ids, account root ARNs and user ARNs.
    aws: Vec<String>,
    canonical: Vec<String>,
}

/// A JSON string, or an array of strings (numbers and booleans read as their text).
fn strings(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let one = |v: &Value| match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(bad(format!("{what} must be a string or a list of strings"))),
    };
    match v {
        Value::Array(items) if items.is_empty() => Err(bad(format!("{what} must not be empty"))),
        Value::Array(items) => items.iter().map(one).collect(),
        v => Ok(vec![one(v)?]),
    }
}

impl Policy {
    /// Parses and validates a policy document.
    pub fn parse(text: &str, kind: Kind) -> Result<Self, PolicyError> {
        let Strict(doc) = serde_json::from_str(text).map_err(|e| bad(format!("Syntax errors in policy: {e}")))?;
        let Value::Object(doc) = doc else {
            return Err(bad("The policy must be a JSON object"));
        };
        for key in doc.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(bad(format!("Policy has an invalid field {key}")));
            }
        }
        match doc.get("Version") {
            None => {}
            Some(Value::String(v)) if v == "2012-10-17" || v == "2008-10-17" => {}
            Some(_) => return Err(bad("The policy Version must be 2012-10-17 or 2008-10-17")),
        }
        let statements = match doc.get("Statement") {
            Some(Value::Array(list)) if !list.is_empty() => list.iter().collect(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => return Err(bad("The policy must have at least one Statement")),
        };
        let statements = statements
            .into_iter()
            .map(|s| match s {
                Value::Object(s) => Statement::parse(s, kind),
                _ => Err(bad("Each Statement must be a JSON object")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// A policy that denies everything: what a stored policy that no longer parses stands for.
    #[must_use]
    pub fn deny_all() -> Self {
        Self {
            statements: vec![Statement {
                allow: false,
                principal: None,
                action: Matcher {
                    items: vec!["*".into()],
                    negated: false,
                },
                resource: Some(Matcher {
                    items: vec!["*".into()],
                    negated: false,
                }),
                conditions: Vec::new(),
            }],
        }
    }

    /// Whether any condition tests a key starting with `prefix` (keys are case-insensitive).
    #[must_use]
    pub fn uses_condition_key(&self, prefix: &str) -> bool {
        let prefix = prefix.to_ascii_lowercase();
        self.statements
            .iter()
            .flat_map(|s| &s.conditions)
            .any(|c| c.key().to_ascii_lowercase().starts_with(&prefix))
    }

    /// Every `Resource` and `NotResource` pattern the policy names.
    pub fn resources(&self) -> impl Iterator<Item = &str> {
        self.statements
            .iter()
            .flat_map(|s| s.resource.iter().flat_map(|r| r.items.iter().map(String::as_str)))
    }

    /// Whether the policy grants anything to everyone (S3's notion of a public bucket policy):
    /// an Allow for any principal, or for all but some (`NotPrincipal`), that no condition on
    /// the caller's network, account or identity narrows.
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.statements.iter().any(|s| {
            let everyone = s.principal.as_ref().is_some_and(|p| p.negated || p.items.any);
            s.allow && everyone && !s.conditions.iter().any(Condition::narrows)
        })
    }

    /// What this policy says about `req`: Deny if any applicable statement denies, Allow if
    /// any allows, otherwise NotApplicable.
    #[must_use]
    pub fn evaluate(&self, req: &Request<'_>) -> Decision {
        let mut decision = Decision::NotApplicable;
        for s in &self.statements {
            if s.applies(req) {
                if !s.allow {
                    return Decision::Deny;
                }
                decision = Decision::Allow;
            }
        }
        decision
    }
}

impl Statement {
    fn parse(s: &Map<String, Value>, kind: Kind) -> Result<Self, PolicyError> {
        for key in s.keys() {
            let known = matches!(
                key.as_str(),
                "Sid"
                    | "Effect"
                    | "Principal"
                    | "NotPrincipal"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Condition"
            );
            if !known {
                return Err(bad(format!("Statement has an invalid field {key}")));
            }
        }
        let allow = match s.get("Effect").and_then(Value::as_str) {
            Some("Allow") => true,
            Some("Deny") => false,
            _ => return Err(bad("Each Statement needs an Effect of Allow or Deny")),
        };
        let principal = match (s.get("Principal"), s.get("NotPrincipal")) {
            (Some(_), Some(_)) => return Err(bad("A Statement cannot have both Principal and NotPrincipal")),
            (Some(p), None) => Some(Matcher {
                items: principals(p)?,
                negated: false,
            }),
            (None, Some(p)) => Some(Matcher {
                items: principals(p)?,
                negated: true,
            }),
            (None, None) => None,
        };
        match (kind, &principal) {
            (Kind::Identity, Some(_)) => return Err(bad("Policy document should not specify a principal")),
            (Kind::Resource, None) => return Err(bad("Missing required field Principal")),
            _ => {}
        }
        let action = match (s.get("Action"), s.get("NotAction")) {
            (Some(a), None) => Matcher {
                items: actions(a, "Action")?,
                negated: false,
            },
            (None, Some(a)) => Matcher {
                items: actions(a, "NotAction")?,
                negated: true,
            },
            _ => return Err(bad("Each Statement needs exactly one of Action and NotAction")),
        };
        let resource = match (s.get("Resource"), s.get("NotResource")) {
            (Some(r), None) => Some(Matcher {
                items: strings(r, "Resource")?,
                negated: false,
            }),
            (None, Some(r)) => Some(Matcher {
                items: strings(r, "NotResource")?,
                negated: true,
            }),
            (None, None) => None,
            _ => return Err(bad("A Statement cannot have both Resource and NotResource")),
        };
        if resource.is_none() {
            return Err(bad("Each Statement needs a Resource or NotResource"));
        }
        let conditions = match s.get("Condition") {
            None => Vec::new(),
            Some(Value::Object(ops)) => {
                let mut out = Vec::new();
                for (op, keys) in ops {
                    let Value::Object(keys) = keys else {
                        return Err(bad(format!("Condition {op} must map keys to values")));
                    };
                    for (key, values) in keys {
                        out.push(Condition::parse(op, key, strings(values, key)?).map_err(bad)?);
                    }
                }
                out
            }
            Some(_) => return Err(bad("Condition must be a JSON object")),
        };
        Ok(Self {
            allow,
            principal,
            action,
            resource,
            conditions,
        })
    }

    fn applies(&self, req: &Request<'_>) -> bool {
        if let Some(p) = &self.principal
            && p.items.matches(req.caller) == p.negated
        {
            return false;
        }
        let action = self.action.items.iter().any(|a| wildcard::matches(a, req.action, true));
        if action == self.action.negated {
            return false;
        }
        if let Some(r) = &self.resource {
            let hit = r.items.iter().any(|pattern| {
                wildcard::substitute(pattern, req.context)
                    .is_some_and(|tokens| wildcard::matches_tokens(&tokens, req.resource, false))
            });
            if hit == r.negated {
                return false;
            }
        }
        self.conditions.iter().all(|c| c.holds(req.context))
    }
}

/// A JSON value read with every object's keys unique: `{"Effect":"Allow","Effect":"Deny"}`
/// means different things to different readers, so it is refused, as AWS refuses it.
struct Strict(Value);

impl<'de> serde::Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(key.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!("duplicate key {key}")));
            }
        }
        Ok(Value::Object(out))
    }
}

fn actions(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    let actions = strings(v, what)?;
    for a in &actions {
        if a != "*" && !a.contains(':') {
            return Err(bad(format!("Action {a} must be of the form service:action")));
        }
    }
    Ok(actions)
}

fn principals(v: &Value) -> Result<Principals, PolicyError> {
    let mut p = Principals::default();
    match v {
        Value::String(s) if s == "*" => p.any = true,
        Value::Object(map) => {
            for (kind, ids) in map {
                let ids = strings(ids, "Principal")?;
                match kind.as_str() {
                    "AWS" => {
                        for id in &ids {
                            let account = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
                            if id != "*" && !account && !id.starts_with("arn:aws:iam::") {
                                return Err(bad(format!("Invalid principal in policy: {id}")));
                            }
                        }
                        p.any |= ids.iter().any(|id| id == "*");
                        p.aws.extend(ids);
                    }
                    "CanonicalUser" => p.canonical.extend(ids),
                    other => return Err(bad(format!("Unsupported principal type {other}"))),
                }
            }
        }
        _ => return Err(bad("Principal must be \"*\" or an object")),
    }
    Ok(p)
}

impl Principals {
    fn matches(&self, caller: &Caller) -> bool {
        if self.any {
            return true;
        }
        let Caller::Principal(who) = caller else { return false };
        // An account id or its root ARN names every identity of that account.
        let root = format!("arn:aws:iam::{}:root", who.account);
        self.aws
            .iter()
            .any(|id| *id == who.account || *id == root || *id == who.arn)
            || self.canonical.contains(&who.canonical_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Context, Principal};

    fn user(account: &str, name: &str) -> Caller {
        Caller::Principal(Principal {
            account: account.into(),
            arn: format!("arn:aws:iam::{account}:user/{name}"),
            canonical_id: format!("canon-{account}"),
        })
    }

    fn decide(policy: &str, kind: Kind, caller: &Caller, action: &str, resource: &str, cx: &Context) -> Decision {
        let policy = Policy::parse(policy, kind).unwrap();
        policy.evaluate(&Request {
            caller,
            action,
            resource,
            context: cx,
        })
    }

    /// Examples from the IAM and S3 documentation, each with requests it must and must not
    /// allow.
    #[test]
    fn documentation_examples() {
        let alice = user("111122223333", "alice");
        let mut cx = Context::new();
        cx.set("aws:username", "alice");
        // "Allows IAM users to access their own home directory in Amazon S3".
        let home = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::amzn-s3-demo-bucket",
             "Condition":{"StringLike":{"s3:prefix":["","home/","home/${aws:username}/*"]}}},
            {"Effect":"Allow","Action":"s3:*","Resource":["arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}",
             "arn:aws:s3:::amzn-s3-demo-bucket/home/${aws:username}/*"]}]}"#;
        let id = Kind::Identity;
        let own = "arn:aws:s3:::amzn-s3-demo-bucket/home/alice/notes.txt";
        let other = "arn:aws:s3:::amzn-s3-demo-bucket/home/bob/notes.txt";
        assert_eq!(decide(home, id, &alice, "s3:GetObject", own, &cx), Decision::Allow);
        assert_eq!(decide(home, id, &alice, "s3:PutObject", own, &cx), Decision::Allow);
        assert_eq!(
            decide(home, id, &alice, "s3:GetObject", other, &cx),
            Decision::NotApplicable
        );
        let bucket = "arn:aws:s3:::amzn-s3-demo-bucket";
        let mut listing = cx.clone();
        listing.set("s3:prefix", "home/alice/");
        assert_eq!(
            decide(home, id, &alice, "s3:ListBucket", bucket, &listing),
            Decision::Allow
        );
        listing.set("s3:prefix", "other/");
        assert_eq!(
            decide(home, id, &alice, "s3:ListBucket", bucket, &listing),
            Decision::NotApplicable
        );
        listing.set("s3:prefix", "home/alice/docs");
        assert_eq!(
            decide(home, id, &alice, "s3:ListBucket", bucket, &listing),
            Decision::Allow
        );
        listing.set("s3:prefix", "home/bob/");
        assert_eq!(
            decide(home, id, &alice, "s3:ListBucket", bucket, &listing),
            Decision::NotApplicable
        );

        // "Granting read-only permission to a public anonymous user".
        let public = r#"{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow",
            "Principal":"*","Action":["s3:GetObject","s3:GetObjectVersion"],
            "Resource":["arn:aws:s3:::amzn-s3-demo-bucket/*"]}]}"#;
        let res = Kind::Resource;
        let obj = "arn:aws:s3:::amzn-s3-demo-bucket/photo.jpg";
        assert_eq!(
            decide(public, res, &Caller::Anonymous, "s3:GetObject", obj, &cx),
            Decision::Allow
        );
        assert_eq!(
            decide(public, res, &Caller::Anonymous, "s3:PutObject", obj, &cx),
            Decision::NotApplicable
        );

        // "Restricting access to specific IP addresses".
        let ip = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*",
            "Resource":["arn:aws:s3:::amzn-s3-demo-bucket","arn:aws:s3:::amzn-s3-demo-bucket/*"],
            "Condition":{"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}}}]}"#;
        let mut from = Context::new();
        from.set("aws:SourceIp", "198.51.100.4");
        assert_eq!(decide(ip, res, &alice, "s3:GetObject", obj, &from), Decision::Deny);
        from.set("aws:SourceIp", "192.0.2.10");
        assert_eq!(
            decide(ip, res, &alice, "s3:GetObject", obj, &from),
            Decision::NotApplicable
        );

        // "Requiring HTTPS" (deny when aws:SecureTransport is false).
        let tls = r#"{"Statement":{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"s3:*",
            "Resource":"arn:aws:s3:::amzn-s3-demo-bucket/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}}"#;
        let mut plain = Context::new();
        plain.set("aws:SecureTransport", "false");
        assert_eq!(
            decide(tls, res, &Caller::Anonymous, "s3:GetObject", obj, &plain),
            Decision::Deny
        );
        plain.set("aws:SecureTransport", "true");
        assert_eq!(
            decide(tls, res, &alice, "s3:GetObject", obj, &plain),
            Decision::NotApplicable
        );

        // Cross-account grant to an account and to one user.
        let grant = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":["444455556666",
            "arn:aws:iam::777788889999:user/bob"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        let b_obj = "arn:aws:s3:::b/k";
        assert_eq!(
            decide(grant, res, &user("444455556666", "x"), "s3:GetObject", b_obj, &cx),
            Decision::Allow
        );
        assert_eq!(
            decide(grant, res, &user("777788889999", "bob"), "s3:GetObject", b_obj, &cx),
            Decision::Allow
        );
        assert_eq!(
            decide(grant, res, &user("777788889999", "eve"), "s3:GetObject", b_obj, &cx),
            Decision::NotApplicable
        );
        assert_eq!(
            decide(grant, res, &Caller::Anonymous, "s3:GetObject", b_obj, &cx),
            Decision::NotApplicable
        );

        // NotAction / NotResource / NotPrincipal.
        let not =
            r#"{"Statement":[{"Effect":"Allow","NotAction":"s3:Delete*","NotResource":"arn:aws:s3:::secret/*"}]}"#;
        assert_eq!(decide(not, id, &alice, "s3:GetObject", b_obj, &cx), Decision::Allow);
        assert_eq!(
            decide(not, id, &alice, "s3:DeleteObject", b_obj, &cx),
            Decision::NotApplicable
        );
        assert_eq!(
            decide(not, id, &alice, "s3:GetObject", "arn:aws:s3:::secret/x", &cx),
            Decision::NotApplicable
        );
        let not_p = r#"{"Statement":[{"Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"},
            "Action":"s3:*","Resource":"*"}]}"#;
        assert_eq!(
            decide(not_p, res, &alice, "s3:GetObject", b_obj, &cx),
            Decision::NotApplicable
        );
        assert_eq!(
            decide(not_p, res, &user("111122223333", "bob"), "s3:GetObject", b_obj, &cx),
            Decision::Deny
        );
    }

    #[test]
    fn deny_all_and_condition_keys() {
        let caller = user("111122223333", "alice");
        let cx = Context::new();
        let request = Request {
            caller: &caller,
            action: "s3:GetObject",
            resource: "arn:aws:s3:::b/k",
            context: &cx,
        };
        assert_eq!(Policy::deny_all().evaluate(&request), Decision::Deny);
        let tagged = r#"{"Statement":{"Effect":"Deny","Action":"s3:*","Resource":"*",
            "Condition":{"StringEquals":{"S3:ExistingObjectTag/class":"x"}}}}"#;
        assert!(
            Policy::parse(tagged, Kind::Identity)
                .unwrap()
                .uses_condition_key("s3:existingobjecttag/")
        );
        let plain = r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#;
        assert!(
            !Policy::parse(plain, Kind::Identity)
                .unwrap()
                .uses_condition_key("s3:existingobjecttag/")
        );
    }

    #[test]
    fn public_and_resources() {
        let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"},
            {"Effect":"Deny","Principal":"*","Action":"s3:*","NotResource":"arn:aws:s3:::b"}]}"#;
        let p = Policy::parse(public, Kind::Resource).unwrap();
        assert!(p.is_public());
        assert_eq!(
            p.resources().collect::<Vec<_>>(),
            ["arn:aws:s3:::b/*", "arn:aws:s3:::b"]
        );
        let narrowed = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}}"#;
        assert!(!Policy::parse(narrowed, Kind::Resource).unwrap().is_public());
        // Conditions that do not name who is asking leave a policy public.
        let tls_only = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*",
            "Condition":{"Bool":{"aws:SecureTransport":"true"}}}}"#;
        assert!(Policy::parse(tls_only, Kind::Resource).unwrap().is_public());
        let wildcard = r#"{"Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*",
            "Condition":{"StringLike":{"aws:PrincipalAccount":"*"}}}}"#;
        assert!(Policy::parse(wildcard, Kind::Resource).unwrap().is_public());
        let all_but =
            r#"{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}}"#;
        assert!(Policy::parse(all_but, Kind::Resource).unwrap().is_public());
        let account =
            r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"s3:*","Resource":"*"}}"#;
        assert!(!Policy::parse(account, Kind::Resource).unwrap().is_public());
    }

    #[test]
    fn malformed_documents_are_refused() {
        let id = Kind::Identity;
        for doc in [
            "not json",
            "[]",
            r#"{"Statement":[]}"#,
            r#"{"Version":"2020-01-01","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Permit","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"GetObject","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Principal":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Condition":{"Nope":{"k":"v"}}}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*","Extra":1}}"#,
            r#"{"Statement":{"Effect":"Deny","Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
            r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*",
                "Condition":{"StringEquals":{"s3:prefix":"a","s3:prefix":"b"}}}}"#,
        ] {
            assert!(Policy::parse(doc, id).is_err(), "{doc}");
        }
        assert!(
            Policy::parse(
                r#"{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}"#,
                Kind::Resource
            )
            .is_err()
        );
        assert!(
            Policy::parse(
                r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"s3:*","Resource":"*"}}"#,
                Kind::Resource
            )
            .is_err()
        );
    }

    /// A small deterministic generator, so the properties below explore many policies
    /// without a dependency.
    struct Lcg(u64);

    impl Lcg {
        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            items[usize::try_from(self.0 >> 33).unwrap() % items.len()]
        }
    }

    fn random_statement(rng: &mut Lcg) -> String {
        let effect = rng.pick(&["Allow", "Deny"]);
        let action = rng.pick(&["s3:*", "s3:Get*", "s3:GetObject", "s3:PutObject", "s3:List*", "*"]);
        let resource = rng.pick(&[
            "*",
            "arn:aws:s3:::b",
            "arn:aws:s3:::b/*",
            "arn:aws:s3:::b/a?c",
            "arn:aws:s3:::c/*",
        ]);
        let condition = rng.pick(&[
            "",
            r#","Condition":{"StringLike":{"s3:prefix":"a*"}}"#,
            r#","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}"#,
            r#","Condition":{"Bool":{"aws:SecureTransport":"true"}}"#,
        ]);
        format!(r#"{{"Effect":"{effect}","Action":"{action}","Resource":"{resource}"{condition}}}"#)
    }

    #[test]
    fn adding_a_deny_never_allows_and_order_does_not_matter() {
        let mut rng = Lcg(42);
        let caller = user("111122223333", "alice");
        for _ in 0..2000 {
            let n = 1 + usize::try_from(rng.0 % 4).unwrap();
            let mut statements: Vec<String> = (0..n).map(|_| random_statement(&mut rng)).collect();
            let mut cx = Context::new();
            cx.set("s3:prefix", rng.pick(&["abc", "xyz"]));
            cx.set("aws:SourceIp", rng.pick(&["10.1.2.3", "192.0.2.1"]));
            cx.set("aws:SecureTransport", rng.pick(&["true", "false"]));
            let action = rng.pick(&["s3:GetObject", "s3:PutObject", "s3:ListBucket"]);
            let resource = rng.pick(&["arn:aws:s3:::b", "arn:aws:s3:::b/abc", "arn:aws:s3:::c/x"]);
            let eval = |statements: &[String]| {
                let doc = format!(r#"{{"Statement":[{}]}}"#, statements.join(","));
                decide(&doc, Kind::Identity, &caller, action, resource, &cx)
            };
            let before = eval(&statements);
            statements.reverse();
            assert_eq!(eval(&statements), before, "order changed the decision");
            let extra = random_statement(&mut rng).replacen("Allow", "Deny", 1);
            statements.push(extra);
            let after = eval(&statements);
            assert!(
                !(before == Decision::Deny && after != Decision::Deny),
                "a Deny was lifted"
            );
            assert!(
                !(before != Decision::Allow && after == Decision::Allow),
                "a Deny made an Allow"
            );
        }
    }
}
