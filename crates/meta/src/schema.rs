//! The schema, created on first open. Keys are compared byte-wise (SQLite's BINARY collation),
//! which is the UTF-8 order S3 lists in.

use sqlx::AnyPool;

use crate::{Backend, Result};

/// 2: indexes on the reaper's queues.
const SCHEMA_VERSION: i64 = 2;
/// The PostgreSQL advisory lock held while the schema is created or upgraded.
const MIGRATION_LOCK: i64 = 0x6f73_6701;

const TABLES: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
    // Cluster-wide settings every gateway reads (`name = value`).
    "CREATE TABLE IF NOT EXISTS properties (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL)",
    // Provider instances: non-secret settings as JSON, the secret sealed.
    "CREATE TABLE IF NOT EXISTS providers (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        secret TEXT NOT NULL,
        created_ms BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        canonical_id TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL,
        created_ms BIGINT NOT NULL)",
    // IAM users of an account; the account's root identity is not a row here.
    "CREATE TABLE IF NOT EXISTS users (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        user_id TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, name))",
    // A key belongs to a user, or to the account's root identity when user_name is ''.
    "CREATE TABLE IF NOT EXISTS access_keys (
        access_key TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        user_name TEXT NOT NULL,
        secret TEXT NOT NULL,
        active BIGINT NOT NULL,
        created_ms BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS access_keys_owner ON access_keys (account_id, user_name)",
    // Inline policies embedded in a user or a group (principal_kind 'user' or 'group').
    "CREATE TABLE IF NOT EXISTS inline_policies (
        account_id TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        document TEXT NOT NULL,
        PRIMARY KEY (account_id, principal_kind, principal_name, policy_name))",
    "CREATE TABLE IF NOT EXISTS buckets (
        name TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        region TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        provider TEXT NOT NULL,
        ownership TEXT NOT NULL,
        acl TEXT NOT NULL,
        public_access_block TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS groups (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        group_id TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, name))",
    "CREATE TABLE IF NOT EXISTS group_members (
        account_id TEXT NOT NULL,
        group_name TEXT NOT NULL,
        user_name TEXT NOT NULL,
        PRIMARY KEY (account_id, group_name, user_name))",
    "CREATE INDEX IF NOT EXISTS group_members_by_user ON group_members (account_id, user_name)",
    // Customer-managed policies, their versions, and where they are attached.
    "CREATE TABLE IF NOT EXISTS managed_policies (
        account_id TEXT NOT NULL REFERENCES accounts(id),
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        policy_id TEXT NOT NULL UNIQUE,
        default_version TEXT NOT NULL,
        next_version BIGINT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, name))",
    "CREATE TABLE IF NOT EXISTS policy_versions (
        account_id TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        version_id TEXT NOT NULL,
        document TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        PRIMARY KEY (account_id, policy_name, version_id))",
    "CREATE TABLE IF NOT EXISTS policy_attachments (
        account_id TEXT NOT NULL,
        policy_name TEXT NOT NULL,
        principal_kind TEXT NOT NULL,
        principal_name TEXT NOT NULL,
        PRIMARY KEY (account_id, policy_name, principal_kind, principal_name))",
    "CREATE TABLE IF NOT EXISTS bucket_policies (
        bucket TEXT PRIMARY KEY REFERENCES buckets(name),
        document TEXT NOT NULL)",
    // Every object version, current or not; `pieces` is the JSON list of blobs holding the
    // bytes in order (one for a plain PUT, one per part for a completed multipart upload).
    "CREATE TABLE IF NOT EXISTS versions (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        version_id TEXT NOT NULL,
        is_latest BIGINT NOT NULL,
        delete_marker BIGINT NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        modified_ms BIGINT NOT NULL,
        parts_count BIGINT,
        pieces TEXT NOT NULL,
        attrs TEXT NOT NULL,
        owner TEXT NOT NULL,
        PRIMARY KEY (bucket, key, version_id))",
    // The listing index: current, visible objects in key order, so a page costs a range scan.
    "CREATE INDEX IF NOT EXISTS versions_listing ON versions (bucket, key)
        WHERE is_latest = 1 AND delete_marker = 0",
    "CREATE TABLE IF NOT EXISTS uploads (
        upload_id TEXT PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        initiated_ms BIGINT NOT NULL,
        attrs TEXT NOT NULL,
        owner TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS uploads_listing ON uploads (bucket, key, upload_id)",
    "CREATE TABLE IF NOT EXISTS parts (
        upload_id TEXT NOT NULL,
        part_number BIGINT NOT NULL,
        blob TEXT NOT NULL,
        size BIGINT NOT NULL,
        etag TEXT NOT NULL,
        modified_ms BIGINT NOT NULL,
        PRIMARY KEY (upload_id, part_number))",
    // Blobs being written: a crash mid-write leaves the row, and the reaper removes the blob
    // once the lease has expired.
    "CREATE TABLE IF NOT EXISTS pending_blobs (
        blob TEXT PRIMARY KEY,
        expires_ms BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS pending_blobs_expiry ON pending_blobs (expires_ms)",
    // Blobs no version references any more, deleted after a grace period so that reads
    // already under way finish.
    "CREATE TABLE IF NOT EXISTS dead_blobs (
        blob TEXT PRIMARY KEY,
        after_ms BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS dead_blobs_due ON dead_blobs (after_ms)",
];

/// Creates or upgrades the schema. On PostgreSQL, gateways starting together take turns; one
/// that finds the schema current runs no DDL at all, so it cannot deadlock with gateways
/// already serving (DDL takes table locks that running transactions hold too).
pub async fn migrate(pool: &AnyPool, backend: Backend) -> Result<()> {
    let mut tx = pool.begin().await?;
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(TABLES[0]).execute(&mut *tx).await?;
    let version: Option<i64> = sqlx::query_scalar("SELECT version FROM schema_version")
        .fetch_optional(&mut *tx)
        .await?;
    match version {
        Some(v) if v > SCHEMA_VERSION => {
            return Err(crate::Error::Corrupt(format!(
                "metadata schema version {v} is newer than this binary's {SCHEMA_VERSION}"
            )));
        }
        Some(SCHEMA_VERSION) => return Ok(tx.commit().await?),
        _ => {}
    }
    for stmt in &TABLES[1..] {
        let stmt = match backend {
            Backend::Sqlite => stmt.to_string(),
            // Keys sort byte-wise (S3's order), whatever the database's collation.
            Backend::Postgres => stmt.replace(" key TEXT NOT NULL", " key TEXT COLLATE \"C\" NOT NULL"),
        };
        sqlx::query(&stmt).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM schema_version").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
        .bind(SCHEMA_VERSION)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
