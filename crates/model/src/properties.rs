//! Cluster properties: every setting the gateways read from the shared store, with its type,
//! the values it takes, its default and what it does. The store refuses a value this table
//! does not allow (`osg property set`); the gateways read values through it, so an unset
//! property means its default everywhere.

use std::fmt;

/// What values a property takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// A whole number within the bounds.
    Integer { min: u64, max: u64 },
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// The name of a provider registered in the store (or the embedded Walrus).
    Provider,
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool => write!(f, "true or false"),
            Self::Integer { min, max } => write!(f, "a whole number from {min} to {max}"),
            Self::OneOf(words) => write!(f, "one of {}", words.join(", ")),
            Self::Provider => write!(f, "the name of a registered provider (osg provider list)"),
        }
    }
}

/// A property: its name, type, default and meaning.
#[derive(Debug, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub kind: Type,
    pub default: &'static str,
    pub description: &'static str,
}

pub const BACKEND: Property = Property {
    name: "osg.backend",
    kind: Type::Provider,
    default: crate::blob::EMBEDDED,
    description: "the provider new buckets are placed on",
};
pub const PLACEMENT_BY_LOCATION_CONSTRAINT: Property = Property {
    name: "osg.placement-by-location-constraint",
    kind: Type::Bool,
    default: "false",
    description: "whether CreateBucket's LocationConstraint may name a provider",
};
pub const LIFECYCLE_RATE: Property = Property {
    name: "osg.lifecycle.rate",
    kind: Type::Integer { min: 1, max: 1_000_000 },
    default: "1000",
    description: "versions a lifecycle run examines per second, on each gateway",
};
pub const LIFECYCLE_DAY_SECONDS: Property = Property {
    name: "osg.lifecycle.day-seconds",
    kind: Type::Integer { min: 1, max: 86_400 },
    default: "86400",
    description: "the lifecycle day; shorter only to try rules in seconds",
};
pub const MAX_BUCKETS_PER_ACCOUNT: Property = Property {
    name: "s3.max-buckets-per-account",
    kind: Type::Integer { min: 1, max: 1_000_000 },
    default: "100",
    description: "CreateBucket answers TooManyBuckets beyond this",
};
pub const DEFAULT_OBJECT_OWNERSHIP: Property = Property {
    name: "s3.default-object-ownership",
    kind: Type::OneOf(&["BucketOwnerEnforced", "BucketOwnerPreferred", "ObjectWriter"]),
    default: "BucketOwnerEnforced",
    description: "Object Ownership of buckets created without x-amz-object-ownership",
};
pub const SSE_C_ALLOW_HTTP: Property = Property {
    name: "s3.sse-c.allow-http",
    kind: Type::Bool,
    default: "false",
    description: "whether SSE-C keys may arrive over plain HTTP (behind a proxy that ends TLS)",
};

/// Every property, by name.
pub const ALL: &[&Property] = &[
    &BACKEND,
    &LIFECYCLE_DAY_SECONDS,
    &LIFECYCLE_RATE,
    &PLACEMENT_BY_LOCATION_CONSTRAINT,
    &DEFAULT_OBJECT_OWNERSHIP,
    &MAX_BUCKETS_PER_ACCOUNT,
    &SSE_C_ALLOW_HTTP,
];

/// Why a value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PropertyError {
    #[error("no property {0}; the properties are {names}", names = names())]
    Unknown(String),
    #[error("{name} takes {kind}, not {value:?}")]
    Invalid {
        name: &'static str,
        kind: Type,
        value: String,
    },
}

fn names() -> String {
    ALL.iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}

/// The property called `name`.
pub fn find(name: &str) -> Result<&'static Property, PropertyError> {
    ALL.iter()
        .copied()
        .find(|p| p.name == name)
        .ok_or_else(|| PropertyError::Unknown(name.to_owned()))
}

impl Property {
    /// Checks `value` against the type; a provider name is checked by the store, which knows
    /// the providers.
    pub fn check(&self, value: &str) -> Result<(), PropertyError> {
        let ok = match self.kind {
            Type::Bool => matches!(value, "true" | "false"),
            Type::Integer { min, max } => value.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n)),
            Type::OneOf(words) => words.contains(&value),
            Type::Provider => crate::names::is_resource_name(value),
        };
        if ok {
            Ok(())
        } else {
            Err(PropertyError::Invalid {
                name: self.name,
                kind: self.kind,
                value: value.to_owned(),
            })
        }
    }

    /// The value in force: `stored` if it is one this property takes, else the default (a
    /// value stored before values were checked is ignored).
    #[must_use]
    pub fn value<'a>(&'static self, stored: Option<&'a str>) -> &'a str {
        match stored {
            Some(v) if self.check(v).is_ok() => v,
            _ => self.default,
        }
    }

    /// The value in force of a [`Type::Bool`] property.
    #[must_use]
    pub fn bool(&'static self, stored: Option<&str>) -> bool {
        self.value(stored) == "true"
    }

    /// The value in force of a [`Type::Integer`] property.
    #[must_use]
    pub fn integer(&'static self, stored: Option<&str>) -> u64 {
        let default = || {
            self.default
                .parse()
                .expect("an integer property's default is an integer")
        };
        self.value(stored).parse().unwrap_or_else(|_| default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_values_their_properties_take() {
        for p in ALL {
            assert!(p.check(p.default).is_ok(), "{}", p.name);
            assert!(!p.description.is_empty(), "{}", p.name);
        }
        let mut names: Vec<_> = ALL.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }

    #[test]
    fn values_are_checked_and_read_with_their_defaults() {
        assert!(matches!(find("osg.backnd"), Err(PropertyError::Unknown(_))));
        let rate = find("osg.lifecycle.rate").unwrap();
        assert!(rate.check("300").is_ok());
        for bad in ["0", "-1", "fast", "1000001", ""] {
            let err = rate.check(bad).unwrap_err();
            assert!(err.to_string().contains("from 1 to 1000000"), "{err}");
        }
        assert_eq!(rate.integer(None), 1000);
        assert_eq!(rate.integer(Some("300")), 300);
        assert_eq!(rate.integer(Some("garbage")), 1000);
        assert!(SSE_C_ALLOW_HTTP.check("yes").is_err());
        assert!(!SSE_C_ALLOW_HTTP.bool(None));
        assert!(SSE_C_ALLOW_HTTP.bool(Some("true")));
        assert!(DEFAULT_OBJECT_OWNERSHIP.check("ObjectWritter").is_err());
        assert!(BACKEND.check("Not A Name").is_err());
    }
}
