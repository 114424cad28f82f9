//! Listing by range scans over the listing index. A page of N entries costs N rows read (and
//! the delete markers among them), plus one jump (a one-row query) per common prefix, however
//! many keys the bucket or a prefix holds.

use sqlx::Row;

use crate::objects::{VERSION_COLUMNS, version_from};
use crate::{Meta, Result, Version};

/// Highest Unicode scalar: appended to a common prefix it sorts after every key under it.
const AFTER_ALL: char = '\u{10FFFF}';

/// One batch of a listing: a range scan of the partial index `versions_latest`.
fn list_page() -> String {
    format!(
        "SELECT {VERSION_COLUMNS} FROM versions
         WHERE bucket = $1 AND is_latest = 1 AND delete_marker = 0 AND key > $2 AND key >= $3
         ORDER BY key LIMIT $4"
    )
}

/// One batch of a listing of versions, from a cursor (key, and the `seq` below which that
/// key's versions are still to come): a range scan of `versions_order` from `$2`, the later of
/// the prefix and the cursor's key (the `OR` alone gives the scan no start: every page would
/// read the bucket from its first key).
fn versions_page() -> String {
    format!(
        "SELECT {VERSION_COLUMNS}, seq FROM versions
         WHERE bucket = $1 AND key >= $2 AND (key > $3 OR (key = $3 AND seq < $4))
         ORDER BY key, seq DESC LIMIT $5"
    )
}

#[derive(Debug, Clone)]
pub enum ListEntry {
    Object(Box<Version>),
    /// A common prefix (ends with the delimiter).
    Prefix(String),
}

impl ListEntry {
    /// The key or prefix a following page starts after.
    #[must_use]
    pub fn marker(&self) -> &str {
        match self {
            Self::Object(v) => &v.key,
            Self::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Default)]
pub struct ListPage {
    pub entries: Vec<ListEntry>,
    pub truncated: bool,
}

/// An entry of ListObjectVersions: a version (or delete marker), or a common prefix.
#[derive(Debug, Clone)]
pub enum VersionEntry {
    Version(Box<Version>),
    Prefix(String),
}

#[derive(Debug, Default)]
pub struct VersionPage {
    pub entries: Vec<VersionEntry>,
    pub truncated: bool,
}

/// Where a listing of versions is: after version `seq` of `key` (`i64::MIN`: after all of them).
struct Cursor {
    key: String,
    seq: i64,
}

impl Meta {
    /// Lists current objects of `bucket` whose keys start with `prefix` and sort after
    /// `after`, rolling keys up to common prefixes at the first `delimiter` past the prefix.
    pub async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        after: &str,
        max: usize,
    ) -> Result<ListPage> {
        let shard = self.shard_of(bucket).await?;
        let common_prefix = |key: &str| common_prefix(key, prefix, delimiter);
        let mut page = ListPage::default();
        if max == 0 {
            return Ok(page);
        }
        let mut cursor = after.to_owned();
        // A marker that is itself a common prefix must not be listed again.
        let mut last_prefix = common_prefix(after).filter(|p| p == after);
        // After a jump past a common prefix, the next batch is one row: under a delimiter the
        // next key often starts another prefix, and rows read beyond it would be thrown away.
        let mut jumped = false;
        'scan: loop {
            let want = if jumped { 1 } else { max + 1 - page.entries.len() };
            let rows = sqlx::query(&list_page())
                .bind(bucket)
                .bind(&cursor)
                .bind(prefix)
                .bind(i64::try_from(want).unwrap_or(i64::MAX))
                .fetch_all(&shard.pool)
                .await?;
            let exhausted = rows.len() < want;
            jumped = false;
            for row in &rows {
                let version = version_from(row)?;
                if !version.key.starts_with(prefix) {
                    break 'scan;
                }
                if let Some(cp) = common_prefix(&version.key) {
                    // Skip every other key under this prefix with one jump.
                    let past = format!("{cp}{AFTER_ALL}");
                    cursor = if version.key > past { version.key } else { past };
                    jumped = true;
                    if last_prefix.as_deref() != Some(cp.as_str()) {
                        last_prefix = Some(cp.clone());
                        page.entries.push(ListEntry::Prefix(cp));
                    }
                } else {
                    cursor.clone_from(&version.key);
                    page.entries.push(ListEntry::Object(Box::new(version)));
                }
                if page.entries.len() > max {
                    break 'scan;
                }
                if jumped {
                    continue 'scan;
                }
            }
            if exhausted {
                break;
            }
        }
        page.truncated = page.entries.len() > max;
        page.entries.truncate(max);
        Ok(page)
    }

    /// ListObjectVersions: every version and delete marker of `bucket` under `prefix`, by key,
    /// newest first within a key, after `key_marker` (after its version `version_marker`, if
    /// given), with keys rolled up to common prefixes at `delimiter` as [`Meta::list_objects`]
    /// does.
    pub async fn list_versions(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        key_marker: &str,
        version_marker: Option<&str>,
        max: usize,
    ) -> Result<VersionPage> {
        let shard = self.shard_of(bucket).await?;
        let common_prefix = |key: &str| common_prefix(key, prefix, delimiter);
        let mut page = VersionPage::default();
        if max == 0 {
            return Ok(page);
        }
        let mut cursor = Cursor {
            key: key_marker.to_owned(),
            seq: i64::MIN,
        };
        if let Some(id) = version_marker.filter(|_| !key_marker.is_empty()) {
            let seq: Option<i64> =
                sqlx::query_scalar("SELECT seq FROM versions WHERE bucket = $1 AND key = $2 AND version_id = $3")
                    .bind(bucket)
                    .bind(key_marker)
                    .bind(id)
                    .fetch_optional(&shard.pool)
                    .await?;
            // A marker naming a version that is gone resumes after its key.
            if let Some(seq) = seq {
                cursor.seq = seq;
            }
        }
        let mut last_prefix = common_prefix(key_marker).filter(|p| p == key_marker);
        loop {
            let want = max + 1 - page.entries.len();
            let rows = sqlx::query(&versions_page())
                .bind(bucket)
                .bind(prefix.max(cursor.key.as_str()))
                .bind(&cursor.key)
                .bind(cursor.seq)
                .bind(i64::try_from(want).unwrap_or(i64::MAX))
                .fetch_all(&shard.pool)
                .await?;
            let exhausted = rows.len() < want;
            let mut jumped = false;
            for row in &rows {
                let version = version_from(row)?;
                if !version.key.starts_with(prefix) {
                    return Ok(finish(page, max));
                }
                if let Some(cp) = common_prefix(&version.key) {
                    // Past every version of every key under the prefix, with one jump (never
                    // back: a key may sort after the jump's target).
                    let past = format!("{cp}{AFTER_ALL}");
                    cursor = Cursor {
                        key: if version.key > past { version.key.clone() } else { past },
                        seq: i64::MIN,
                    };
                    if last_prefix.as_deref() != Some(cp.as_str()) {
                        last_prefix = Some(cp.clone());
                        page.entries.push(VersionEntry::Prefix(cp));
                    }
                    jumped = true;
                } else {
                    cursor = Cursor {
                        key: version.key.clone(),
                        seq: row.try_get("seq")?,
                    };
                    page.entries.push(VersionEntry::Version(Box::new(version)));
                }
                if page.entries.len() > max {
                    return Ok(finish(page, max));
                }
                if jumped {
                    break;
                }
            }
            if exhausted && !jumped {
                return Ok(finish(page, max));
            }
        }
    }
}

/// The common prefix `key` rolls up to: up to the first `delimiter` after `prefix`.
fn common_prefix(key: &str, prefix: &str, delimiter: Option<&str>) -> Option<String> {
    let delimiter = delimiter.filter(|d| !d.is_empty())?;
    let rest = key.strip_prefix(prefix)?;
    let at = rest.find(delimiter)?;
    Some(key[..prefix.len() + at + delimiter.len()].to_owned())
}

fn finish(mut page: VersionPage, max: usize) -> VersionPage {
    page.truncated = page.entries.len() > max;
    page.entries.truncate(max);
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objects::tests::new_version;
    use crate::{Condition, test_store};

    async fn store_with(keys: &[&str]) -> (tempfile::TempDir, Meta) {
        let (dir, meta) = test_store().await;
        crate::test_bucket(&meta).await;
        for (i, key) in keys.iter().enumerate() {
            let blob = format!("blob{i}");
            meta.begin_blob(&blob, "b").await.unwrap();
            meta.commit_object(&new_version("b", key, &blob), &Condition::None)
                .await
                .unwrap();
        }
        (dir, meta)
    }

    fn names(page: &ListPage) -> Vec<&str> {
        page.entries.iter().map(ListEntry::marker).collect()
    }

    /// A page's cost follows the page, not the bucket: the batch query is a range search of
    /// the listing index, already in key order, stopped by its LIMIT.
    #[tokio::test]
    async fn listing_is_an_index_range_scan() {
        let (_dir, meta) = store_with(&["a"]).await;
        let mut tx = meta.catalog.pool.begin().await.unwrap();
        let (explain, column) = match meta.catalog.backend {
            crate::Backend::Sqlite => ("EXPLAIN QUERY PLAN", "detail"),
            crate::Backend::Postgres => {
                // A one-row table is cheapest to scan whole; ask what the index would do.
                sqlx::query("SET LOCAL enable_seqscan = off")
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                ("EXPLAIN", "QUERY PLAN")
            }
        };
        let rows = sqlx::query(&format!("{explain} {}", list_page()))
            .bind("b")
            .bind("")
            .bind("")
            .bind(10_i64)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let plan: Vec<String> = rows.iter().map(|r| sqlx::Row::get::<String, _>(r, column)).collect();
        let plan = plan.join("; ");
        match meta.catalog.backend {
            crate::Backend::Sqlite => {
                assert!(
                    plan.contains("SEARCH versions USING INDEX versions_latest (bucket=? AND key>?)"),
                    "{plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{plan}");
            }
            crate::Backend::Postgres => {
                assert!(plan.contains("Index Scan using versions_latest on versions"), "{plan}");
                assert!(
                    plan.contains("Index Cond: ((bucket = 'b'::text) AND (key > ''::text)"),
                    "{plan}"
                );
                assert!(!plan.contains("Sort"), "{plan}");
            }
        }
    }

    #[tokio::test]
    async fn prefixes_delimiters_and_pages() {
        let keys = ["a/1", "a/2", "a/b/3", "b", "c/1", "c/2", "d", "é/x", "\u{10FFFF}z"];
        let (_dir, meta) = store_with(&keys).await;
        let all = meta.list_objects("b", "", None, "", 1000).await.unwrap();
        assert_eq!(names(&all), keys);
        assert!(!all.truncated);

        let top = meta.list_objects("b", "", Some("/"), "", 1000).await.unwrap();
        assert_eq!(names(&top), ["a/", "b", "c/", "d", "é/", "\u{10FFFF}z"]);

        let under_a = meta.list_objects("b", "a/", Some("/"), "", 1000).await.unwrap();
        assert_eq!(names(&under_a), ["a/1", "a/2", "a/b/"]);

        // Page through the delimited listing two at a time, resuming after each marker.
        let mut seen = Vec::new();
        let mut after = String::new();
        loop {
            let page = meta.list_objects("b", "", Some("/"), &after, 2).await.unwrap();
            seen.extend(names(&page).into_iter().map(str::to_owned));
            if !page.truncated {
                break;
            }
            after = page.entries.last().unwrap().marker().to_owned();
        }
        assert_eq!(seen, ["a/", "b", "c/", "d", "é/", "\u{10FFFF}z"]);

        let none = meta.list_objects("b", "zzz", None, "", 10).await.unwrap();
        assert!(none.entries.is_empty() && !none.truncated);
        let zero = meta.list_objects("b", "", None, "", 0).await.unwrap();
        assert!(zero.entries.is_empty());
    }
}
