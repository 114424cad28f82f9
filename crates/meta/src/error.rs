/// What went wrong in the metadata store, in the store's terms; the gateway maps each variant
/// to an S3 error in one place.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bucket name is taken; `owned_by_caller` tells whose it is.
    #[error("bucket already exists")]
    BucketExists { owned_by_caller: bool },
    /// The account owns as many buckets as it may.
    #[error("the account owns its maximum of {0} buckets")]
    TooManyBuckets(i64),
    #[error("no such bucket")]
    NoSuchBucket,
    #[error("bucket is not empty")]
    BucketNotEmpty,
    #[error("no such key")]
    NoSuchKey,
    #[error("no such version")]
    NoSuchVersion,
    /// The version named is a delete marker, which has no bytes, tags or ACL.
    #[error("the version is a delete marker")]
    DeleteMarker,
    /// A versioning change the model refuses.
    #[error(transparent)]
    Versioning(#[from] osg_model::VersioningError),
    /// What Object Lock refuses.
    #[error(transparent)]
    Lock(#[from] osg_model::LockError),
    #[error("no such upload")]
    NoSuchUpload,
    /// A conditional write's condition did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A part named in a completion is missing or its ETag differs.
    #[error("part {0} is missing or its ETag does not match")]
    InvalidPart(u32),
    #[error("parts are not in ascending order")]
    InvalidPartOrder,
    /// A part other than the last is smaller than the minimum part size.
    #[error("part {0} is smaller than the minimum part size")]
    EntityTooSmall(u32),
    /// A blob's write lease expired before the write committed; the blob may be gone.
    #[error("write lease on blob {0} expired")]
    LeaseLost(String),
    /// An identity entity (account, user, ...) with that name exists already.
    #[error("{0} already exists")]
    EntityExists(String),
    /// An identity entity does not exist.
    #[error("{0} does not exist")]
    NoSuchEntity(String),
    /// An entity cannot be deleted while others depend on it.
    #[error("{0}")]
    DeleteConflict(String),
    /// A per-entity limit (two access keys per user, ...) would be exceeded.
    #[error("{0}")]
    LimitExceeded(String),
    /// An administrator's request the store refuses (a bad name, a setting that cannot be).
    #[error("{0}")]
    Invalid(String),
    /// A change to a bucket's configuration that the model refuses.
    #[error(transparent)]
    Config(#[from] osg_model::ConfigError),
    /// A concurrent write changed what this one read under its lock (PostgreSQL's READ
    /// COMMITTED): it is run again.
    #[error("a concurrent write interfered")]
    Conflict,
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Self::Corrupt(e.to_string())
    }
}
