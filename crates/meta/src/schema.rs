//! The schema, created on first open, and its upgrades: the one place where stored formats
//! change. Keys are compared byte-wise (SQLite's BINARY collation), which is the UTF-8 order
//! S3 lists in.

use sqlx::AnyPool;
use sqlx::{AnyConnection, Row};

use crate::{Backend, Error, Result};

/// 2: indexes on the reaper's queues. 3: a bucket's configuration, its policy included, is one
/// typed document (`osg_model::BucketConfig`); object ACLs are stored as documents, not as
/// strings of JSON.
/// 4: the blob ledger (`blobs`) replaces the reaper's two queues, and a version's pieces are
/// rows (`pieces`) instead of a JSON column; metadata shards (`shards`, `shard_buckets`, and
/// each bucket's shard). 5: versioning. 6: Object Lock. 7: lifecycle runs (`lifecycle_runs`).
/// 8: no table changes, but objects may be encrypted (`ObjectAttrs::encryption`) and bucket
/// configurations hold tags, CORS rules and default encryption: a binary before 8 would serve
/// ciphertext as data, so it must refuse the store (it does, for a newer version).
/// 9: usage counted as versions come and go (`bucket_usage`, `usage_deltas`, kept by
/// triggers), and quotas (an account's `quota`, a bucket configuration's): a binary before 9
/// would neither count nor enforce them.
const SCHEMA_VERSION: i64 = 9;
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
        created_ms BIGINT NOT NULL,
        quota TEXT NOT NULL DEFAULT '')",
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
    // `config`: the encoded `osg_model::BucketConfig`; `shard`: where its objects are, and
    // `incarnation`: which creation of the name this is (`crate::shard`).
    "CREATE TABLE IF NOT EXISTS buckets (
        name TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        region TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        provider TEXT NOT NULL,
        config TEXT NOT NULL,
        shard TEXT NOT NULL DEFAULT 'main',
        incarnation TEXT NOT NULL DEFAULT '')",
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
    // Every object version, current or not.
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
        attrs TEXT NOT NULL,
        owner TEXT NOT NULL,
        seq BIGINT NOT NULL DEFAULT 0,
        PRIMARY KEY (bucket, key, version_id))",
    VERSIONS_ORDER,
    VERSIONS_LATEST,
    // A version's blobs, in order (one for a plain PUT, one per part for a completed upload).
    PIECES,
    "CREATE INDEX IF NOT EXISTS pieces_by_blob ON pieces (blob)",
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
        checksums TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (upload_id, part_number))",
    // The blob ledger (`crate::blobs`).
    BLOBS,
    "CREATE INDEX IF NOT EXISTS blobs_placed ON blobs (provider, bucket, id)",
    "CREATE INDEX IF NOT EXISTS blobs_due ON blobs (state, due_ms)",
    SHARDS,
    SHARD_BUCKETS,
    STORE,
    LIFECYCLE_RUNS,
    BUCKET_USAGE,
    USAGE_DELTAS,
    "CREATE INDEX IF NOT EXISTS usage_deltas_bucket ON usage_deltas (bucket)",
];

/// What each bucket of a shard holds (`crate::usage`): its versions other than delete markers
/// and their bytes, kept by triggers on `versions` (`USAGE_TRIGGERS`).
const BUCKET_USAGE: &str = "CREATE TABLE IF NOT EXISTS bucket_usage (
        bucket TEXT PRIMARY KEY,
        objects BIGINT NOT NULL,
        bytes BIGINT NOT NULL)";
/// On PostgreSQL the triggers append changes here rather than update a bucket's one row, which
/// would make every write of a bucket wait for the one before to commit; they are folded into
/// `bucket_usage` in the background, and usage is the two added up.
const USAGE_DELTAS: &str = "CREATE TABLE IF NOT EXISTS usage_deltas (
        bucket TEXT NOT NULL,
        objects BIGINT NOT NULL,
        bytes BIGINT NOT NULL)";

/// The usage triggers, made again by every migration. SQLite has one writer at a time, so its
/// triggers update the bucket's row directly.
const USAGE_TRIGGERS_SQLITE: &[&str] = &[
    "DROP TRIGGER IF EXISTS versions_usage_in",
    "DROP TRIGGER IF EXISTS versions_usage_out",
    "CREATE TRIGGER versions_usage_in AFTER INSERT ON versions WHEN NEW.delete_marker = 0 BEGIN
        INSERT INTO bucket_usage (bucket, objects, bytes) VALUES (NEW.bucket, 1, NEW.size)
            ON CONFLICT (bucket) DO UPDATE SET objects = objects + 1, bytes = bytes + excluded.bytes;
    END",
    "CREATE TRIGGER versions_usage_out AFTER DELETE ON versions WHEN OLD.delete_marker = 0 BEGIN
        UPDATE bucket_usage SET objects = objects - 1, bytes = bytes - OLD.size WHERE bucket = OLD.bucket;
    END",
];
const USAGE_TRIGGERS_POSTGRES: &[&str] = &[
    r#"CREATE OR REPLACE FUNCTION osg_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A version's size and kind never change once written: inserts and deletes are all.
    IF TG_OP = 'INSERT' AND NEW.delete_marker = 0 THEN
        INSERT INTO usage_deltas (bucket, objects, bytes) VALUES (NEW.bucket, 1, NEW.size);
    ELSIF TG_OP = 'DELETE' AND OLD.delete_marker = 0 THEN
        INSERT INTO usage_deltas (bucket, objects, bytes) VALUES (OLD.bucket, -1, -OLD.size);
    END IF;
    RETURN NULL;
END $$"#,
    "DROP TRIGGER IF EXISTS versions_usage ON versions",
    "CREATE TRIGGER versions_usage AFTER INSERT OR DELETE ON versions
        FOR EACH ROW EXECUTE FUNCTION osg_usage()",
];

/// The catalog's lifecycle runs, one per bucket with a lifecycle configuration
/// (`crate::lifecycle`): who holds the run and until when, the day it is for (a day's start)
/// and where it is (the last key done), and the last day whose run finished.
const LIFECYCLE_RUNS: &str = "CREATE TABLE IF NOT EXISTS lifecycle_runs (
        bucket TEXT PRIMARY KEY,
        holder TEXT NOT NULL DEFAULT '',
        lease_until_ms BIGINT NOT NULL DEFAULT 0,
        run_day_ms BIGINT NOT NULL DEFAULT 0,
        cursor TEXT NOT NULL DEFAULT '',
        done_day_ms BIGINT NOT NULL DEFAULT 0)";

/// The catalog's registered shards (`crate::shard`); `url` is sealed.
const SHARDS: &str = "CREATE TABLE IF NOT EXISTS shards (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,
        added_ms BIGINT NOT NULL)";

/// The buckets a shard holds, each incarnation a row (`crate::shard`).
/// The buckets a shard holds, with what decides how their objects are written: versioning
/// (`crate::Versioning::as_str`) and Object Lock (`osg_model::LockConfig::encode`).
const SHARD_BUCKETS: &str = "CREATE TABLE IF NOT EXISTS shard_buckets (
        name TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        versioning TEXT NOT NULL DEFAULT '',
        object_lock TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (name, incarnation))";

/// `shard_buckets` as schema 3 made it.
const SHARD_BUCKETS_V3: &str = "CREATE TABLE IF NOT EXISTS shard_buckets (
        name TEXT NOT NULL,
        incarnation TEXT NOT NULL,
        PRIMARY KEY (name, incarnation))";

/// A key's versions, newest (highest `seq`) first, for ListObjectVersions.
const VERSIONS_ORDER: &str = "CREATE INDEX IF NOT EXISTS versions_order ON versions (bucket, key, seq DESC)";

/// One latest version per key: two first writes of a key cannot both be latest (the second
/// fails, and is run again). It is also the listing index: current objects in key order (delete
/// markers among them are skipped as they come), so a page costs a range scan.
const VERSIONS_LATEST: &str =
    "CREATE UNIQUE INDEX IF NOT EXISTS versions_latest ON versions (bucket, key) WHERE is_latest = 1";

/// This database's id, made with its schema: one database is not registered twice as shards.
const STORE: &str = "CREATE TABLE IF NOT EXISTS store (id TEXT NOT NULL)";

/// A part's number and checksums (a JSON object, `''` for none) are kept with its piece.
const PIECES: &str = "CREATE TABLE IF NOT EXISTS pieces (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        version_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        blob TEXT NOT NULL,
        size BIGINT NOT NULL,
        part_number BIGINT,
        checksums TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (bucket, key, version_id, seq))";

/// `pieces` as schema 3 made it (schema 4 added its part columns).
const PIECES_V3: &str = "CREATE TABLE IF NOT EXISTS pieces (
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        version_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        blob TEXT NOT NULL,
        size BIGINT NOT NULL,
        PRIMARY KEY (bucket, key, version_id, seq))";

/// `state`: 0 being written (`due_ms`: when its lease runs out), 1 live, 2 dead (`due_ms`:
/// when the reaper may delete it).
const BLOBS: &str = "CREATE TABLE IF NOT EXISTS blobs (
        id TEXT PRIMARY KEY,
        provider TEXT NOT NULL,
        bucket TEXT NOT NULL,
        state BIGINT NOT NULL,
        size BIGINT NOT NULL,
        due_ms BIGINT NOT NULL)";

/// PostgreSQL: the request path's hottest write, [`crate::Meta::commit_object`], as functions,
/// so that a gateway's batch of commits is one statement and one round trip (`crate::batch`).
/// `osg_commit_object` does what `crate::objects::commit_in` does on SQLite, and the store's
/// tests run on both. Outcomes that change nothing are returned; a lost lease raises `OSG01`
/// (the blob's id as its message) so that what the commit did is undone.
const COMMIT_OBJECT: &str = r#"CREATE OR REPLACE FUNCTION osg_commit_object(
        p_bucket TEXT, p_incarnation TEXT, p_key TEXT, p_version TEXT, p_condition TEXT, p_expected TEXT,
        p_size BIGINT, p_etag TEXT, p_now BIGINT, p_parts_count BIGINT, p_attrs TEXT,
        p_owner TEXT, p_pieces JSONB, p_dead_due BIGINT, p_lock TEXT) RETURNS TEXT
    LANGUAGE plpgsql AS $$
DECLARE
    versioning TEXT;
    lock_config TEXT;
    lock_doc TEXT;
    attrs TEXT;
    dflt JSONB;
    period BIGINT;
    vid TEXT;
    cur RECORD;
    existed BOOLEAN;
    next_seq BIGINT;
    gone RECORD;
    piece RECORD;
BEGIN
    -- The caller holds the bucket's row FOR SHARE, if there is one: it cannot go until commit.
    SELECT sb.versioning, sb.object_lock INTO versioning, lock_config FROM shard_buckets sb
        WHERE sb.name = p_bucket AND sb.incarnation = p_incarnation;
    IF NOT FOUND THEN
        RETURN 'NoSuchBucket';
    END IF;
    -- Object Lock settings need a bucket with Object Lock; its default retention applies to a
    -- version that names none. `p_lock` is the version's lock (`{}`: none) and `p_attrs` the
    -- rest of its attributes (never read as jsonb here: it may hold what jsonb refuses).
    lock_doc := p_lock;
    IF lock_config = '' THEN
        IF p_lock <> '{}' THEN
            RETURN 'NoObjectLock';
        END IF;
    ELSIF NOT (p_lock::jsonb ? 'retention') THEN
        dflt := lock_config::jsonb -> 'default';
        IF dflt IS NOT NULL THEN
            period := COALESCE((dflt -> 1 ->> 'days')::bigint, (dflt -> 1 ->> 'years')::bigint * 365) * 86400000;
            lock_doc := (p_lock::jsonb || jsonb_build_object('retention',
                jsonb_build_object('mode', dflt ->> 0, 'until_ms', p_now + period)))::text;
        END IF;
    END IF;
    IF lock_doc = '{}' THEN
        attrs := p_attrs;
    ELSE
        attrs := '{"lock":' || lock_doc || CASE WHEN p_attrs = '{}' THEN '}' ELSE ',' || substr(p_attrs, 2) END;
    END IF;
    -- The key's latest version, locked: writes of one key serialize on it.
    SELECT version_id, etag, delete_marker, seq INTO cur FROM versions
        WHERE bucket = p_bucket AND key = p_key AND is_latest = 1 FOR UPDATE;
    existed := FOUND;
    -- A key without a latest version has no versions. A lock waited for may also have ended
    -- with the row no longer latest and the new latest version unseen: the insert below then
    -- collides with it on `versions_latest` and the write is run again, but If-Match must
    -- not answer NoSuchKey first.
    next_seq := CASE WHEN existed THEN cur.seq + 1 ELSE 1 END;
    IF NOT existed AND p_condition = 'etag' THEN
        PERFORM 1 FROM versions WHERE bucket = p_bucket AND key = p_key AND is_latest = 1;
        IF FOUND THEN
            RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'the latest version changed';
        END IF;
    END IF;
    IF p_condition = 'absent' AND existed AND cur.delete_marker = 0 THEN
        RETURN 'PreconditionFailed';
    ELSIF p_condition = 'etag' THEN
        IF NOT existed OR cur.delete_marker <> 0 THEN
            RETURN 'NoSuchKey';
        ELSIF p_expected <> '*' AND p_expected <> cur.etag THEN
            RETURN 'PreconditionFailed';
        END IF;
    ELSIF p_condition = 'not_etag' AND existed AND cur.delete_marker = 0 AND cur.etag = p_expected THEN
        RETURN 'PreconditionFailed';
    END IF;
    -- A versioned bucket keeps every version; otherwise the write is the null version,
    -- replacing the one there is, wherever it is among the key's versions.
    vid := CASE WHEN versioning = 'Enabled' THEN p_version ELSE 'null' END;
    IF existed AND cur.version_id <> vid THEN
        UPDATE versions SET is_latest = 0
            WHERE bucket = p_bucket AND key = p_key AND version_id = cur.version_id;
    END IF;
    -- (A key with no latest version has no versions at all.)
    IF vid = 'null' AND existed THEN
        FOR gone IN DELETE FROM pieces WHERE bucket = p_bucket AND key = p_key AND version_id = 'null'
                    RETURNING blob LOOP
            UPDATE blobs SET state = 2, due_ms = p_dead_due WHERE id = gone.blob;
        END LOOP;
        DELETE FROM versions WHERE bucket = p_bucket AND key = p_key AND version_id = 'null';
    END IF;
    INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag,
                          modified_ms, parts_count, attrs, owner, seq)
        VALUES (p_bucket, p_key, vid, 1, 0, p_size, p_etag, p_now, p_parts_count,
                attrs, p_owner, next_seq);
    -- One piece at a time, by primary key: a plan cached while the tables were small must not
    -- scan them once they are large.
    FOR piece IN SELECT * FROM ROWS FROM (jsonb_to_recordset(p_pieces) AS (blob TEXT, size BIGINT))
                 WITH ORDINALITY AS s(blob, size, n) LOOP
        INSERT INTO pieces (bucket, key, version_id, seq, blob, size)
            VALUES (p_bucket, p_key, vid, piece.n - 1, piece.blob, piece.size);
        UPDATE blobs SET state = 1, size = piece.size WHERE id = piece.blob AND state = 0;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'OSG01', MESSAGE = piece.blob;
        END IF;
    END LOOP;
    RETURN 'ok ' || versioning || ' ' || vid;
END $$"#;

/// A batch of blob leases (a JSON array of `crate::batch::Lease`): each recorded if the shard
/// holds its bucket (by primary key, whatever the tables' statistics), `NoSuchBucket` if not.
/// Answers a JSON array of outcomes in the batch's order.
const LEASE_BLOBS: &str = r#"CREATE OR REPLACE FUNCTION osg_lease_blobs(p_batch TEXT) RETURNS TEXT
    LANGUAGE plpgsql AS $$
DECLARE
    l RECORD;
    outcomes TEXT[] := '{}';
BEGIN
    FOR l IN SELECT * FROM ROWS FROM (jsonb_to_recordset(p_batch::jsonb) AS (
                 id TEXT, provider TEXT, bucket TEXT, incarnation TEXT, due BIGINT)) WITH ORDINALITY AS b
             ORDER BY b.id COLLATE "C" LOOP
        PERFORM 1 FROM shard_buckets WHERE name = l.bucket AND incarnation = l.incarnation;
        IF FOUND THEN
            INSERT INTO blobs (id, provider, bucket, state, size, due_ms)
                VALUES (l.id, l.provider, l.bucket, 0, 0, l.due) ON CONFLICT (id) DO NOTHING;
            outcomes[l.ordinality] := 'ok';
        ELSE
            outcomes[l.ordinality] := 'NoSuchBucket';
        END IF;
    END LOOP;
    RETURN array_to_json(outcomes)::text;
END $$"#;

/// A batch of commits (a JSON array of `crate::batch::Commit`) in one transaction, each in a
/// subtransaction of its own so that one's failure undoes only its part. Batches lock their
/// buckets, then their keys, in name order, whichever gateway sent them, so they cannot
/// deadlock one another. Answers
/// a JSON array of outcomes in the batch's order: `osg_commit_object`'s, or `error SQLSTATE
/// message`.
const COMMIT_OBJECTS: &str = r#"CREATE OR REPLACE FUNCTION osg_commit_objects(p_batch TEXT, p_isolated BOOLEAN) RETURNS TEXT
    LANGUAGE plpgsql AS $$
DECLARE
    held RECORD;
    c RECORD;
    outcomes TEXT[] := '{}';
BEGIN
    -- The batch's buckets, each locked once (not once per commit) so that none can be deleted
    -- before the batch commits; in name order, before any key.
    FOR held IN SELECT DISTINCT bucket COLLATE "C" AS bucket, incarnation COLLATE "C" AS incarnation
                FROM jsonb_to_recordset(p_batch::jsonb) AS s(bucket TEXT, incarnation TEXT) ORDER BY 1, 2 LOOP
        PERFORM 1 FROM shard_buckets WHERE name = held.bucket AND incarnation = held.incarnation FOR SHARE;
    END LOOP;
    FOR c IN SELECT * FROM ROWS FROM (jsonb_to_recordset(p_batch::jsonb) AS (
                 bucket TEXT, incarnation TEXT, key TEXT, version_id TEXT, condition TEXT, expected TEXT,
                 size BIGINT, etag TEXT, modified_ms BIGINT, parts_count BIGINT, attrs TEXT,
                 owner TEXT, pieces JSONB, dead_due BIGINT, lock TEXT)) WITH ORDINALITY AS b
             ORDER BY b.bucket COLLATE "C", b.key COLLATE "C", b.ordinality LOOP
        IF p_isolated THEN
            -- Each commit a subtransaction: one that fails is undone alone.
            BEGIN
                outcomes[c.ordinality] := osg_commit_object(c.bucket, c.incarnation, c.key, c.version_id,
                    c.condition, c.expected, c.size, c.etag, c.modified_ms, c.parts_count, c.attrs,
                    c.owner, c.pieces, c.dead_due, c.lock);
            EXCEPTION WHEN OTHERS THEN
                outcomes[c.ordinality] := 'error ' || SQLSTATE || ' ' || SQLERRM;
            END;
        ELSE
            outcomes[c.ordinality] := osg_commit_object(c.bucket, c.incarnation, c.key, c.version_id,
                c.condition, c.expected, c.size, c.etag, c.modified_ms, c.parts_count, c.attrs,
                c.owner, c.pieces, c.dead_due, c.lock);
        END IF;
    END LOOP;
    RETURN array_to_json(outcomes)::text;
END $$"#;

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
            return Err(Error::Corrupt(format!(
                "metadata schema version {v} is newer than this binary's {SCHEMA_VERSION}"
            )));
        }
        Some(SCHEMA_VERSION) => return Ok(tx.commit().await?),
        // A new store: the current schema.
        None => {
            for stmt in &TABLES[1..] {
                sqlx::query(&for_backend(stmt, backend)).execute(&mut *tx).await?;
            }
            name_store(&mut tx).await?;
        }
        Some(mut v) => {
            while v < SCHEMA_VERSION {
                upgrade(&mut tx, backend, v).await?;
                v += 1;
            }
        }
    }
    if backend == Backend::Postgres {
        // Before schema 6 the function took no lock argument.
        sqlx::query(
            "DROP FUNCTION IF EXISTS osg_commit_object(TEXT, TEXT, TEXT, TEXT, TEXT, TEXT, BIGINT, TEXT, BIGINT,
                 BIGINT, TEXT, TEXT, JSONB, BIGINT)",
        )
        .execute(&mut *tx)
        .await?;
        // Before schema 7 every commit of a batch was a subtransaction.
        sqlx::query("DROP FUNCTION IF EXISTS osg_commit_objects(TEXT)")
            .execute(&mut *tx)
            .await?;
        for function in [COMMIT_OBJECT, COMMIT_OBJECTS, LEASE_BLOBS] {
            sqlx::query(function).execute(&mut *tx).await?;
        }
    }
    let triggers = match backend {
        Backend::Sqlite => USAGE_TRIGGERS_SQLITE,
        Backend::Postgres => USAGE_TRIGGERS_POSTGRES,
    };
    for stmt in triggers {
        sqlx::query(stmt).execute(&mut *tx).await?;
    }
    if version.is_some_and(|v| v < 9) {
        // Counted once, after the triggers are made: on PostgreSQL making them waits for the
        // writes under way and holds back new ones until this transaction ends, so every
        // version is counted exactly once, here or by a trigger.
        sqlx::query(
            "INSERT INTO bucket_usage (bucket, objects, bytes)
             SELECT bucket, COUNT(*), COALESCE(SUM(size), 0) FROM versions WHERE delete_marker = 0 GROUP BY bucket",
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("DELETE FROM schema_version").execute(&mut *tx).await?;
    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
        .bind(SCHEMA_VERSION)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// The statement as `backend` takes it.
fn for_backend(stmt: &str, backend: Backend) -> String {
    match backend {
        Backend::Sqlite => stmt.to_owned(),
        // Keys sort byte-wise (S3's order), whatever the database's collation.
        Backend::Postgres => stmt.replace(" key TEXT NOT NULL", " key TEXT COLLATE \"C\" NOT NULL"),
    }
}

/// Brings a store of schema `from` to `from + 1`.
async fn upgrade(conn: &mut AnyConnection, backend: Backend, from: i64) -> Result<()> {
    match from {
        1 => {
            for index in [
                "CREATE INDEX IF NOT EXISTS pending_blobs_expiry ON pending_blobs (expires_ms)",
                "CREATE INDEX IF NOT EXISTS dead_blobs_due ON dead_blobs (after_ms)",
            ] {
                sqlx::query(index).execute(&mut *conn).await?;
            }
        }
        2 => {
            sqlx::query("ALTER TABLE buckets ADD COLUMN config TEXT NOT NULL DEFAULT ''")
                .execute(&mut *conn)
                .await?;
            let rows = sqlx::query(
                "SELECT b.name, b.ownership, b.acl, b.public_access_block, p.document AS policy
                 FROM buckets b LEFT JOIN bucket_policies p ON p.bucket = b.name",
            )
            .fetch_all(&mut *conn)
            .await?;
            for row in rows {
                let name: String = row.try_get("name")?;
                let ownership: String = row.try_get("ownership")?;
                let acl: String = row.try_get("acl")?;
                let pab: String = row.try_get("public_access_block")?;
                let mut config = osg_model::BucketConfig::default();
                config.ownership = osg_model::Ownership::parse(&ownership).unwrap_or_default();
                if !acl.is_empty() {
                    config.acl = serde_json::from_str(&acl)?;
                }
                if !pab.is_empty() {
                    config.public_access_block = Some(serde_json::from_str(&pab)?);
                }
                // The policy as it was stored, checked when it was (a Public Access Block set
                // since does not take it away).
                let mut doc: serde_json::Value = serde_json::from_str(&config.encode())?;
                if let Some(policy) = row.try_get::<Option<String>, _>("policy")? {
                    doc["policy"] = policy.into();
                }
                sqlx::query("UPDATE buckets SET config = $1 WHERE name = $2")
                    .bind(doc.to_string())
                    .bind(&name)
                    .execute(&mut *conn)
                    .await?;
            }
            sqlx::query("DROP TABLE bucket_policies").execute(&mut *conn).await?;
            for column in ["ownership", "acl", "public_access_block"] {
                sqlx::query(&format!("ALTER TABLE buckets DROP COLUMN {column}"))
                    .execute(&mut *conn)
                    .await?;
            }
            // Object ACLs were strings holding JSON; now they are part of the document.
            for (table, id) in [("versions", "bucket, key, version_id"), ("uploads", "upload_id")] {
                let rows = sqlx::query(&format!(
                    "SELECT {id}, attrs FROM {table} WHERE attrs LIKE '%\"acl\":\"%'"
                ))
                .fetch_all(&mut *conn)
                .await?;
                for row in rows {
                    let attrs: String = row.try_get("attrs")?;
                    let mut doc: serde_json::Value = serde_json::from_str(&attrs)?;
                    if let Some(serde_json::Value::String(acl)) = doc.get("acl").cloned() {
                        doc["acl"] = serde_json::from_str(&acl)?;
                    }
                    let (sql, keys): (String, Vec<String>) = if table == "versions" {
                        (
                            "UPDATE versions SET attrs = $1 WHERE bucket = $2 AND key = $3 AND version_id = $4".into(),
                            vec![row.try_get("bucket")?, row.try_get("key")?, row.try_get("version_id")?],
                        )
                    } else {
                        (
                            "UPDATE uploads SET attrs = $1 WHERE upload_id = $2".into(),
                            vec![row.try_get("upload_id")?],
                        )
                    };
                    let mut q = sqlx::query(&sql).bind(doc.to_string());
                    for k in keys {
                        q = q.bind(k);
                    }
                    q.execute(&mut *conn).await?;
                }
            }
        }
        3 => {
            for stmt in [
                PIECES_V3,
                "CREATE INDEX IF NOT EXISTS pieces_by_blob ON pieces (blob)",
                BLOBS,
                "CREATE INDEX IF NOT EXISTS blobs_placed ON blobs (provider, bucket, id)",
                "CREATE INDEX IF NOT EXISTS blobs_due ON blobs (state, due_ms)",
            ] {
                sqlx::query(&for_backend(stmt, backend)).execute(&mut *conn).await?;
            }
            let rows = sqlx::query("SELECT bucket, key, version_id, pieces FROM versions")
                .fetch_all(&mut *conn)
                .await?;
            for row in rows {
                let (bucket, key, version_id): (String, String, String) =
                    (row.try_get("bucket")?, row.try_get("key")?, row.try_get("version_id")?);
                let pieces: Vec<osg_model::Piece> = serde_json::from_str(&row.try_get::<String, _>("pieces")?)?;
                for (seq, piece) in pieces.iter().enumerate() {
                    let size = i64::try_from(piece.size).unwrap_or(i64::MAX);
                    sqlx::query(
                        "INSERT INTO pieces (bucket, key, version_id, seq, blob, size) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(&bucket)
                    .bind(&key)
                    .bind(&version_id)
                    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                    .bind(&piece.blob)
                    .bind(size)
                    .execute(&mut *conn)
                    .await?;
                    ledger(conn, &piece.blob, &bucket, 1, size, 0).await?;
                }
            }
            let parts =
                sqlx::query("SELECT u.bucket, p.blob, p.size FROM parts p JOIN uploads u ON u.upload_id = p.upload_id")
                    .fetch_all(&mut *conn)
                    .await?;
            for row in parts {
                let (bucket, blob, size): (String, String, i64) =
                    (row.try_get("bucket")?, row.try_get("blob")?, row.try_get("size")?);
                ledger(conn, &blob, &bucket, 1, size, 0).await?;
            }
            for (table, state, due) in [("pending_blobs", 0, "expires_ms"), ("dead_blobs", 2, "after_ms")] {
                let rows = sqlx::query(&format!("SELECT blob, {due} AS due FROM {table}"))
                    .fetch_all(&mut *conn)
                    .await?;
                for row in rows {
                    let blob: String = row.try_get("blob")?;
                    ledger(conn, &blob, "", state, 0, row.try_get("due")?).await?;
                }
                sqlx::query(&format!("DROP TABLE {table}")).execute(&mut *conn).await?;
            }
            sqlx::query("ALTER TABLE versions DROP COLUMN pieces")
                .execute(&mut *conn)
                .await?;
            // Shards: every bucket so far is on the catalog, shard `main`.
            for stmt in [
                "ALTER TABLE buckets ADD COLUMN shard TEXT NOT NULL DEFAULT 'main'",
                "ALTER TABLE buckets ADD COLUMN incarnation TEXT NOT NULL DEFAULT ''",
                SHARDS,
                SHARD_BUCKETS_V3,
                STORE,
                "INSERT INTO shard_buckets (name, incarnation) SELECT name, incarnation FROM buckets",
            ] {
                sqlx::query(stmt).execute(&mut *conn).await?;
            }
            name_store(conn).await?;
        }
        // Versioning: buckets' versioning on their shard, versions ordered by `seq`, one latest
        // version per key. Parts keep their checksums, and so do the pieces completed from
        // them. `osg_commit_object` learnt all of it, and `not_etag` (If-None-Match with an
        // ETag): the functions are created again after every upgrade.
        4 => {
            for stmt in [
                // `versions_latest` lists current objects now.
                "DROP INDEX IF EXISTS versions_listing",
                "ALTER TABLE shard_buckets ADD COLUMN versioning TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE versions ADD COLUMN seq BIGINT NOT NULL DEFAULT 0",
                VERSIONS_ORDER,
                VERSIONS_LATEST,
                "ALTER TABLE parts ADD COLUMN checksums TEXT NOT NULL DEFAULT ''",
                "ALTER TABLE pieces ADD COLUMN part_number BIGINT",
                "ALTER TABLE pieces ADD COLUMN checksums TEXT NOT NULL DEFAULT ''",
            ] {
                sqlx::query(stmt).execute(&mut *conn).await?;
            }
        }
        // Object Lock.
        5 => {
            sqlx::query("ALTER TABLE shard_buckets ADD COLUMN object_lock TEXT NOT NULL DEFAULT ''")
                .execute(&mut *conn)
                .await?;
        }
        // Lifecycle.
        6 => {
            sqlx::query(LIFECYCLE_RUNS).execute(&mut *conn).await?;
        }
        // Encryption, bucket tags and CORS: new fields in stored documents, which older
        // binaries must not read (see SCHEMA_VERSION).
        7 => {}
        // Usage and quotas (the triggers and the first count: `migrate`).
        8 => {
            for stmt in [
                "ALTER TABLE accounts ADD COLUMN quota TEXT NOT NULL DEFAULT ''",
                BUCKET_USAGE,
                USAGE_DELTAS,
                "CREATE INDEX IF NOT EXISTS usage_deltas_bucket ON usage_deltas (bucket)",
            ] {
                sqlx::query(stmt).execute(&mut *conn).await?;
            }
        }
        other => {
            return Err(Error::Corrupt(format!(
                "no upgrade from metadata schema version {other}"
            )));
        }
    }
    Ok(())
}

/// Gives a new store its id.
async fn name_store(conn: &mut AnyConnection) -> Result<()> {
    sqlx::query("INSERT INTO store (id) VALUES ($1)")
        .bind(uuid::Uuid::new_v4().to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The id of the store on `pool`.
pub(crate) async fn store_id(pool: &AnyPool) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT id FROM store").fetch_one(pool).await?)
}

/// A blob's ledger row, as an upgrade finds it.
async fn ledger(conn: &mut AnyConnection, blob: &str, bucket: &str, state: i64, size: i64, due: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO blobs (id, provider, bucket, state, size, due_ms) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(blob)
    .bind(osg_model::BlobId::parse(blob).provider)
    .bind(bucket)
    .bind(state)
    .bind(size)
    .bind(due)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_store;

    /// A store made by the schema 2 binary, with a bucket whose ACLs are on and an object with
    /// an ACL, is upgraded in place: nothing is lost, and the formats are the new ones.
    #[tokio::test]
    async fn upgrades_a_version_2_store() {
        let (_dir, meta) = test_store().await;
        let mut conn = meta.catalog.pool.acquire().await.unwrap();
        // Back to version 2: the bucket columns it had, an ACL stored as a string, pieces as
        // JSON, and the reaper's two queues instead of the ledger.
        for stmt in [
            "DELETE FROM schema_version",
            "INSERT INTO schema_version (version) VALUES (2)",
            "ALTER TABLE buckets DROP COLUMN config",
            "ALTER TABLE buckets DROP COLUMN shard",
            "ALTER TABLE buckets DROP COLUMN incarnation",
            "DROP TABLE shards",
            "DROP TABLE shard_buckets",
            "DROP TABLE store",
            "CREATE TABLE bucket_policies (bucket TEXT PRIMARY KEY REFERENCES buckets(name), document TEXT NOT NULL)",
            "ALTER TABLE buckets ADD COLUMN ownership TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE buckets ADD COLUMN acl TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE buckets ADD COLUMN public_access_block TEXT NOT NULL DEFAULT ''",
            "ALTER TABLE versions ADD COLUMN pieces TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE parts DROP COLUMN checksums",
            "DROP INDEX versions_order",
            "DROP INDEX versions_latest",
            "ALTER TABLE versions DROP COLUMN seq",
            "DROP TABLE pieces",
            "DROP TABLE blobs",
            "CREATE TABLE pending_blobs (blob TEXT PRIMARY KEY, expires_ms BIGINT NOT NULL)",
            "CREATE TABLE dead_blobs (blob TEXT PRIMARY KEY, after_ms BIGINT NOT NULL)",
            "INSERT INTO pending_blobs (blob, expires_ms) VALUES ('writing@walrus', 99)",
            "INSERT INTO dead_blobs (blob, after_ms) VALUES ('0ld', 5)",
            "ALTER TABLE accounts DROP COLUMN quota",
            "DROP TABLE bucket_usage",
            "DROP TABLE usage_deltas",
        ] {
            sqlx::query(stmt).execute(&mut *conn).await.unwrap();
        }
        let triggers: &[&str] = match meta.catalog.backend {
            Backend::Sqlite => &["DROP TRIGGER versions_usage_in", "DROP TRIGGER versions_usage_out"],
            Backend::Postgres => &["DROP TRIGGER versions_usage ON versions"],
        };
        for stmt in triggers {
            sqlx::query(stmt).execute(&mut *conn).await.unwrap();
        }
        let a = meta.create_account("old").await.unwrap();
        let acl = r#"{"grants":[{"grantee":{"Group":"http://acs.amazonaws.com/groups/global/AllUsers"},"permission":"Read"}]}"#;
        sqlx::query(
            "INSERT INTO buckets (name, account_id, region, created_ms, provider, ownership, acl, public_access_block)
             VALUES ('old', $1, 'us-east-1', 1, 'walrus', 'ObjectWriter', $2, '{\"block_public_acls\":false,\"ignore_public_acls\":true,\"block_public_policy\":false,\"restrict_public_buckets\":false}')",
        )
        .bind(&a.id)
        .bind(acl)
        .execute(&mut *conn)
        .await
        .unwrap();
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::old/*"}]}"#;
        sqlx::query("INSERT INTO bucket_policies (bucket, document) VALUES ('old', $1)")
            .bind(policy)
            .execute(&mut *conn)
            .await
            .unwrap();
        let attrs = serde_json::json!({"content_type": "text/plain", "acl": acl}).to_string();
        sqlx::query(
            "INSERT INTO versions (bucket, key, version_id, is_latest, delete_marker, size, etag, modified_ms, parts_count,
                                   pieces, attrs, owner)
             VALUES ('old', 'k', 'null', 1, 0, 7, 'e', 1, NULL, '[{\"blob\":\"k1@rgw\",\"size\":3},{\"blob\":\"k2\",\"size\":4}]', $1, $2)",
        )
        .bind(attrs)
        .bind(&a.id)
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        migrate(&meta.catalog.pool, meta.catalog.backend).await.unwrap();
        let bucket = meta.bucket("old").await.unwrap();
        assert_eq!(bucket.shard, crate::MAIN);
        assert_eq!(bucket.config.ownership, osg_model::Ownership::ObjectWriter);
        assert!(bucket.config.acl.is_public());
        assert!(bucket.config.public_access_block().ignore_public_acls);
        assert_eq!(
            bucket.config.policy(),
            Some(policy),
            "the policy joins the configuration"
        );
        let version = meta.object("old", "k").await.unwrap();
        assert_eq!(version.attrs.content_type.as_deref(), Some("text/plain"));
        assert!(version.attrs.acl.is_some_and(|a| a.is_public()));
        // The pieces, as rows; every blob in the ledger, with its provider and state.
        let blobs: Vec<&str> = version.pieces.iter().map(|p| p.blob.as_str()).collect();
        assert_eq!(blobs, ["k1@rgw", "k2"]);
        let placed = meta.blobs_in("old", "rgw", "", 10).await.unwrap();
        assert_eq!(
            (placed[0].id.as_str(), placed[0].state, placed[0].size),
            ("k1@rgw", crate::blobs::BlobState::Live, 3)
        );
        assert_eq!(meta.blobs_in("old", "walrus", "", 10).await.unwrap()[0].id, "k2");
        assert_eq!(meta.blob_backlog(crate::MAIN).await.unwrap(), (1, 1));
        let mut claimed = meta.claim_blobs(crate::MAIN, 100, 10).await.unwrap();
        claimed.sort();
        assert_eq!(claimed, ["0ld", "writing@walrus"]);
        // The bucket is on shard `main`, which holds it: writes go on.
        meta.begin_blob("new@walrus", "old").await.unwrap();
        let new = crate::objects::tests::new_version("old", "k2", "new@walrus");
        meta.commit_object(&new, &crate::Condition::None).await.unwrap();
        // What the bucket held was counted once by the upgrade, and writes since by triggers.
        let usage = osg_model::Usage { objects: 2, bytes: 10 };
        assert_eq!(meta.bucket_usage("old").await.unwrap(), usage);
        // Current now: opening again changes nothing.
        migrate(&meta.catalog.pool, meta.catalog.backend).await.unwrap();
        assert_eq!(meta.bucket_usage("old").await.unwrap(), usage);
    }
}
