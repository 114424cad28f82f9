//! The IAM policy language and S3 ACLs: parse and validate a policy document, then decide a
//! request against it; and what an ACL grants. Pure functions, no I/O: the gateway builds a [`Request`] and combines the
//! [`Decision`]s of identity policies, bucket policies and ACLs.
//!
//! Supported: `Effect`; `Action`/`NotAction`; `Resource`/`NotResource` with `*` and `?`
//! wildcards; `Principal`/`NotPrincipal` (`*`, `{"AWS": account id, account root ARN, user
//! ARN or *}`, `{"CanonicalUser": id}`); `Condition` with the String, Numeric, Date, Bool,
//! Binary, IpAddress, Arn and Null operators, `...IfExists`, and `ForAnyValue:` /
//! `ForAllValues:`; policy variables (`${aws:username}`, `${*}`, ...) in resources and
//! condition values.

pub mod acl;
mod condition;
mod document;
mod wildcard;

pub use self::document::{Kind, Policy, PolicyError};

/// `*` / `?` wildcard matching as policies do it (case-sensitive).
#[must_use]
pub fn wildcard_matches(pattern: &str, text: &str) -> bool {
    wildcard::matches(pattern, text, false)
}

use std::collections::HashMap;

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    Principal(Principal),
}

/// An authenticated identity: an account's root or one of its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// 12-digit account id.
    pub account: String,
    /// `arn:aws:iam::ACCOUNT:root` or `arn:aws:iam::ACCOUNT:user/PATH/NAME`.
    pub arn: String,
    /// The account's canonical id (what S3 ACLs and `CanonicalUser` principals name).
    pub canonical_id: String,
}

/// A request as policies see it.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub caller: &'a Caller,
    /// `service:Action`, e.g. `s3:GetObject`.
    pub action: &'a str,
    /// The resource ARN, e.g. `arn:aws:s3:::bucket/key`.
    pub resource: &'a str,
    pub context: &'a Context,
}

/// Condition keys and their values for one request. Keys are case-insensitive.
#[derive(Debug, Clone, Default)]
pub struct Context {
    values: HashMap<String, Vec<String>>,
}

impl Context {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    /// Sets a multi-valued key.
    pub fn set_all(&mut self, key: &str, values: Vec<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), values);
        self
    }

    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// What one policy (or a set of them) says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An applicable statement denies: nothing else can allow.
    Deny,
    /// An applicable statement allows and none denies.
    Allow,
    /// No statement applies.
    NotApplicable,
}

impl Decision {
    /// Combines decisions the way AWS does: any Deny wins, then any Allow.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        match (self, other) {
            (Self::Deny, _) | (_, Self::Deny) => Self::Deny,
            (Self::Allow, _) | (_, Self::Allow) => Self::Allow,
            _ => Self::NotApplicable,
        }
    }
}
