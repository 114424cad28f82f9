//! The `Condition` element: operators, `...IfExists`, set qualifiers, and how missing keys,
//! multiple keys and multiple values combine (as the IAM documentation states: operators and
//! keys AND together, values OR together, and a negated operator's values NOR together).

use std::net::IpAddr;

use ipnet::IpNet;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::Context;
use crate::wildcard::{self, Token};

/// One operator applied to one key.
#[derive(Debug, Clone)]
pub struct Condition {
    test: Test,
    negated: bool,
    if_exists: bool,
    qualifier: Option<Qualifier>,
    key: String,
    values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Qualifier {
    ForAnyValue,
    ForAllValues,
}

/// The positive comparison behind each operator (negated operators share it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Test {
    StringEquals,
    StringEqualsIgnoreCase,
    StringLike,
    NumericEquals,
    NumericLessThan,
    NumericLessThanEquals,
    NumericGreaterThan,
    NumericGreaterThanEquals,
    DateEquals,
    DateLessThan,
    DateLessThanEquals,
    DateGreaterThan,
    DateGreaterThanEquals,
    Bool,
    BinaryEquals,
    IpAddress,
    ArnLike,
    Null,
}

/// `(name, test, negated)` for every operator.
const OPERATORS: &[(&str, Test, bool)] = &[
    ("StringEquals", Test::StringEquals, false),
    ("StringNotEquals", Test::StringEquals, true),
    ("StringEqualsIgnoreCase", Test::StringEqualsIgnoreCase, false),
    ("StringNotEqualsIgnoreCase", Test::StringEqualsIgnoreCase, true),
    ("StringLike", Test::StringLike, false),
    ("StringNotLike", Test::StringLike, true),
    ("NumericEquals", Test::NumericEquals, false),
    ("NumericNotEquals", Test::NumericEquals, true),
    ("NumericLessThan", Test::NumericLessThan, false),
    ("NumericLessThanEquals", Test::NumericLessThanEquals, false),
    ("NumericGreaterThan", Test::NumericGreaterThan, false),
    ("NumericGreaterThanEquals", Test::NumericGreaterThanEquals, false),
    ("DateEquals", Test::DateEquals, false),
    ("DateNotEquals", Test::DateEquals, true),
    ("DateLessThan", Test::DateLessThan, false),
    ("DateLessThanEquals", Test::DateLessThanEquals, false),
    ("DateGreaterThan", Test::DateGreaterThan, false),
    ("DateGreaterThanEquals", Test::DateGreaterThanEquals, false),
    ("Bool", Test::Bool, false),
    ("BinaryEquals", Test::BinaryEquals, false),
    ("IpAddress", Test::IpAddress, false),
    ("NotIpAddress", Test::IpAddress, true),
    ("ArnEquals", Test::ArnLike, false),
    ("ArnLike", Test::ArnLike, false),
    ("ArnNotEquals", Test::ArnLike, true),
    ("ArnNotLike", Test::ArnLike, true),
    ("Null", Test::Null, false),
];

impl Condition {
    /// Parses one operator name (with its qualifier and `IfExists`) and one key's values.
    pub fn parse(operator: &str, key: &str, values: Vec<String>) -> Result<Self, String> {
        let (qualifier, rest) = if let Some(rest) = operator.strip_prefix("ForAnyValue:") {
            (Some(Qualifier::ForAnyValue), rest)
        } else if let Some(rest) = operator.strip_prefix("ForAllValues:") {
            (Some(Qualifier::ForAllValues), rest)
        } else {
            (None, operator)
        };
        let (name, if_exists) = match rest.strip_suffix("IfExists") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let &(_, test, negated) = OPERATORS
            .iter()
            .find(|(n, _, _)| *n == name)
            .ok_or_else(|| format!("unknown condition operator {operator}"))?;
        if test == Test::Null && (if_exists || qualifier.is_some()) {
            return Err(format!("{operator} is not a valid operator"));
        }
        if values.is_empty() {
            return Err(format!("{operator} on {key} has no values"));
        }
        for v in &values {
            let ok = match test {
                Test::NumericEquals
                | Test::NumericLessThan
                | Test::NumericLessThanEquals
                | Test::NumericGreaterThan
                | Test::NumericGreaterThanEquals => v.parse::<f64>().is_ok(),
                Test::DateEquals
                | Test::DateLessThan
                | Test::DateLessThanEquals
                | Test::DateGreaterThan
                | Test::DateGreaterThanEquals => date(v).is_some(),
                Test::Bool | Test::Null => v == "true" || v == "false",
                Test::IpAddress => network(v).is_some(),
                _ => true,
            };
            if !ok {
                return Err(format!("{operator}: invalid value {v:?} for {key}"));
            }
        }
        Ok(Self {
            test,
            negated,
            if_exists,
            qualifier,
            key: key.to_owned(),
            values,
        })
    }

    /// The condition key tested.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Whether the condition pins the caller down to known parties, which keeps an Allow for
    /// everyone from being public (S3's rule): a non-negated test of fixed values (no
    /// wildcards) on a key that names the caller's network, account or identity.
    pub fn narrows(&self) -> bool {
        const NARROWING: &[&str] = &[
            "aws:sourceip",
            "aws:sourcearn",
            "aws:sourcevpc",
            "aws:sourcevpce",
            "aws:sourceaccount",
            "aws:sourceowner",
            "aws:principalaccount",
            "aws:principalarn",
            "aws:principalorgid",
            "aws:userid",
            "aws:username",
        ];
        let fixed = self
            .values
            .iter()
            .all(|v| !v.contains(['*', '?']) && v != "0.0.0.0/0" && v != "::/0");
        !self.negated
            && self.qualifier != Some(Qualifier::ForAllValues)
            && !matches!(self.test, Test::Null | Test::Bool)
            && fixed
            && NARROWING.contains(&self.key.to_ascii_lowercase().as_str())
    }

    /// Whether the condition holds for the request described by `cx`.
    pub fn holds(&self, cx: &Context) -> bool {
        let present = cx.get(&self.key).filter(|v| !v.is_empty());
        if self.test == Test::Null {
            let absent = present.is_none();
            return self.values.iter().any(|v| (v == "true") == absent);
        }
        let Some(request) = present else {
            return match self.qualifier {
                Some(Qualifier::ForAllValues) => true,
                Some(Qualifier::ForAnyValue) => false,
                None => self.if_exists || self.negated,
            };
        };
        match self.qualifier {
            Some(Qualifier::ForAllValues) => request.iter().all(|v| self.value_holds(v, cx)),
            Some(Qualifier::ForAnyValue) | None => request.iter().any(|v| self.value_holds(v, cx)),
        }
    }

    /// One request value against the policy values: any match (OR), or for a negated
    /// operator, no match (NOR).
    fn value_holds(&self, value: &str, cx: &Context) -> bool {
        let any = self.values.iter().any(|pv| self.test.compare(value, pv, cx));
        any != self.negated
    }
}

impl Test {
    fn compare(self, value: &str, policy: &str, cx: &Context) -> bool {
        match self {
            Self::StringEquals | Self::StringEqualsIgnoreCase | Self::StringLike | Self::ArnLike => {
                let Some(tokens) = wildcard::substitute(policy, cx) else {
                    return false;
                };
                match self {
                    Self::StringEquals => wildcard::literal(&tokens) == value,
                    Self::StringEqualsIgnoreCase => wildcard::literal(&tokens).eq_ignore_ascii_case(value),
                    Self::StringLike => wildcard::matches_tokens(&tokens, value, false),
                    _ => arn_like(&tokens, value),
                }
            }
            Self::NumericEquals
            | Self::NumericLessThan
            | Self::NumericLessThanEquals
            | Self::NumericGreaterThan
            | Self::NumericGreaterThanEquals => {
                let (Ok(v), Ok(p)) = (value.parse::<f64>(), policy.parse::<f64>()) else {
                    return false;
                };
                match self {
                    Self::NumericEquals => (v - p).abs() < f64::EPSILON,
                    Self::NumericLessThan => v < p,
                    Self::NumericLessThanEquals => v <= p,
                    Self::NumericGreaterThan => v > p,
                    _ => v >= p,
                }
            }
            Self::DateEquals
            | Self::DateLessThan
            | Self::DateLessThanEquals
            | Self::DateGreaterThan
            | Self::DateGreaterThanEquals => {
                let (Some(v), Some(p)) = (date(value), date(policy)) else {
                    return false;
                };
                match self {
                    Self::DateEquals => v == p,
                    Self::DateLessThan => v < p,
                    Self::DateLessThanEquals => v <= p,
                    Self::DateGreaterThan => v > p,
                    _ => v >= p,
                }
            }
            Self::Bool => value.eq_ignore_ascii_case(policy),
            Self::BinaryEquals => value == policy,
            Self::IpAddress => match (value.parse::<IpAddr>(), network(policy)) {
                (Ok(ip), Some(net)) => net.contains(&ip),
                _ => false,
            },
            Self::Null => false,
        }
    }
}

/// ArnEquals/ArnLike: each of the six colon-separated parts matched on its own (the last
/// part keeps its colons).
fn arn_like(pattern: &[Token], value: &str) -> bool {
    let p: Vec<&[Token]> = pattern.splitn(6, |t| *t == Token::Char(':')).collect();
    let v: Vec<&str> = value.splitn(6, ':').collect();
    p.len() == 6 && v.len() == 6 && p.iter().zip(&v).all(|(p, v)| wildcard::matches_tokens(p, v, false))
}

/// An ISO 8601 time or epoch seconds.
fn date(s: &str) -> Option<OffsetDateTime> {
    if let Ok(secs) = s.parse::<i64>() {
        return OffsetDateTime::from_unix_timestamp(secs).ok();
    }
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    // A bare date, as policies often write them.
    let day = time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(day.midnight().assume_utc())
}

/// A CIDR block, or one address as its own block.
fn network(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cond(op: &str, key: &str, values: &[&str]) -> Condition {
        Condition::parse(op, key, values.iter().map(|v| (*v).to_owned()).collect()).unwrap()
    }

    fn cx(pairs: &[(&str, &[&str])]) -> Context {
        let mut cx = Context::new();
        for (k, vs) in pairs {
            cx.set_all(k, vs.iter().map(|v| (*v).to_owned()).collect());
        }
        cx
    }

    #[test]
    fn strings_and_missing_keys() {
        let c = cond("StringEquals", "s3:prefix", &["home/", "docs/"]);
        assert!(c.holds(&cx(&[("s3:prefix", &["docs/"])])));
        assert!(!c.holds(&cx(&[("s3:prefix", &["other/"])])));
        assert!(!c.holds(&cx(&[])), "a missing key does not match");
        let c = cond("StringNotEquals", "s3:prefix", &["home/", "docs/"]);
        assert!(!c.holds(&cx(&[("s3:prefix", &["docs/"])])), "values NOR together");
        assert!(c.holds(&cx(&[("s3:prefix", &["x/"])])));
        assert!(c.holds(&cx(&[])), "a negated operator holds for a missing key");
        let c = cond("StringEqualsIfExists", "s3:prefix", &["home/"]);
        assert!(c.holds(&cx(&[])));
        assert!(!c.holds(&cx(&[("s3:prefix", &["x/"])])));
        let c = cond("StringLike", "aws:Referer", &["https://*.example.com/*"]);
        assert!(c.holds(&cx(&[("aws:referer", &["https://www.example.com/page"])])));
        assert!(cond("StringEqualsIgnoreCase", "k", &["ABC"]).holds(&cx(&[("k", &["abc"])])));
        let c = cond("StringLike", "s3:prefix", &["home/${aws:username}/*"]);
        assert!(c.holds(&cx(&[("s3:prefix", &["home/alice/x"]), ("aws:username", &["alice"])])));
        assert!(!c.holds(&cx(&[("s3:prefix", &["home/bob/x"]), ("aws:username", &["alice"])])));
    }

    #[test]
    fn numbers_dates_bools_ips_arns() {
        assert!(cond("NumericLessThanEquals", "s3:max-keys", &["10"]).holds(&cx(&[("s3:max-keys", &["10"])])));
        assert!(!cond("NumericLessThan", "s3:max-keys", &["10"]).holds(&cx(&[("s3:max-keys", &["10"])])));
        assert!(!cond("NumericGreaterThan", "s3:max-keys", &["10"]).holds(&cx(&[("s3:max-keys", &["x"])])));
        let now = &[("aws:CurrentTime", &["2026-11-25T12:00:00Z"][..])];
        assert!(cond("DateGreaterThan", "aws:CurrentTime", &["2026-01-01T00:00:00Z"]).holds(&cx(now)));
        assert!(cond("DateLessThan", "aws:CurrentTime", &["2027-01-01"]).holds(&cx(now)));
        assert!(cond("DateGreaterThan", "aws:EpochTime", &["1000"]).holds(&cx(&[("aws:EpochTime", &["2000"])])));
        assert!(cond("Bool", "aws:SecureTransport", &["false"]).holds(&cx(&[("aws:SecureTransport", &["false"])])));
        assert!(!cond("Bool", "aws:SecureTransport", &["true"]).holds(&cx(&[("aws:SecureTransport", &["false"])])));
        let ip = cond("IpAddress", "aws:SourceIp", &["192.0.2.0/24", "2001:db8::/32"]);
        assert!(ip.holds(&cx(&[("aws:SourceIp", &["192.0.2.7"])])));
        assert!(ip.holds(&cx(&[("aws:SourceIp", &["2001:db8::1"])])));
        assert!(!ip.holds(&cx(&[("aws:SourceIp", &["198.51.100.1"])])));
        let not_ip = cond("NotIpAddress", "aws:SourceIp", &["127.0.0.1"]);
        assert!(!not_ip.holds(&cx(&[("aws:SourceIp", &["127.0.0.1"])])));
        assert!(not_ip.holds(&cx(&[("aws:SourceIp", &["127.0.0.2"])])));
        let arn = cond("ArnLike", "aws:SourceArn", &["arn:aws:iam::*:user/*"]);
        assert!(arn.holds(&cx(&[("aws:SourceArn", &["arn:aws:iam::123456789012:user/a/b"])])));
        assert!(!arn.holds(&cx(&[("aws:SourceArn", &["arn:aws:s3:::bucket"])])));
    }

    #[test]
    fn null_and_set_qualifiers() {
        let null = cond("Null", "s3:x-amz-acl", &["true"]);
        assert!(null.holds(&cx(&[])));
        assert!(!null.holds(&cx(&[("s3:x-amz-acl", &["private"])])));
        let any = cond("ForAnyValue:StringEquals", "aws:TagKeys", &["a", "b"]);
        assert!(any.holds(&cx(&[("aws:TagKeys", &["x", "b"])])));
        assert!(!any.holds(&cx(&[("aws:TagKeys", &["x"])])));
        assert!(!any.holds(&cx(&[])));
        let all = cond("ForAllValues:StringEquals", "aws:TagKeys", &["a", "b"]);
        assert!(all.holds(&cx(&[("aws:TagKeys", &["a", "b"])])));
        assert!(!all.holds(&cx(&[("aws:TagKeys", &["a", "x"])])));
        assert!(all.holds(&cx(&[])), "ForAllValues holds for an absent key");
    }

    #[test]
    fn bad_operators_and_values_are_refused() {
        let parse = |op: &str, v: &str| Condition::parse(op, "k", vec![v.to_owned()]);
        assert!(parse("StringEqualz", "x").is_err());
        assert!(parse("NumericLessThan", "ten").is_err());
        assert!(parse("DateLessThan", "yesterday").is_err());
        assert!(parse("IpAddress", "300.1.1.1").is_err());
        assert!(parse("Bool", "yes").is_err());
        assert!(parse("NullIfExists", "true").is_err());
        assert!(Condition::parse("StringEquals", "k", vec![]).is_err());
    }
}
