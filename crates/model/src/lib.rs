//! The domain the gateways keep: typed bucket configuration, object attributes and the pieces
//! that hold an object's bytes, blob ids, provider records, and the rules names and
//! configurations obey.
//!
//! No I/O and no protocol. The metadata store keeps these types (its stored formats are these
//! types' serializations, versioned and migrated in `osg-meta`); the protocol adapters (the S3
//! API, the IAM API, the admin CLI) translate to and from them; authorization reads them. Each
//! invariant is checked here, once, whoever changes a bucket or names an entity.

pub mod blob;
pub mod bucket;
pub mod cors;
pub mod encryption;
pub mod lifecycle;
pub mod lock;
pub mod names;
pub mod object;
pub mod properties;
pub mod provider;
pub mod quota;
pub mod tags;
pub mod versioning;

pub use self::blob::BlobId;
pub use self::bucket::{BucketConfig, ConfigError, Ownership, PublicAccessBlock};
pub use self::cors::{Cors, CorsError, CorsRule};
pub use self::encryption::{DefaultEncryption, Encryption, SseMode};
pub use self::lifecycle::{Lifecycle, LifecycleError};
pub use self::lock::{LockConfig, LockError, Retention, RetentionMode, VersionLock};
pub use self::object::{ChecksumType, MultipartChecksum, NewVersion, ObjectAttrs, Piece, Version};
pub use self::provider::ProviderRecord;
pub use self::quota::{Exceeded, Quota, Usage};
pub use self::tags::{TagError, TagScope, Tags};
pub use self::versioning::{NULL_VERSION, Versioning, VersioningError, is_version_id};
