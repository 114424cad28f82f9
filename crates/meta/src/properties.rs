//! Cluster properties: named settings in the shared store, so every gateway sees a change.

use sqlx::Row;

use crate::write::{Isolation, transaction};
use crate::{Meta, Result};

impl Meta {
    pub async fn property(&self, name: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM properties WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        Ok(value)
    }

    pub async fn set_property(&self, name: &str, value: &str) -> Result<()> {
        transaction!(&self.catalog, Isolation::Serializable, |tx| {
            sqlx::query(
                "INSERT INTO properties (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    pub async fn properties(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT name, value FROM properties ORDER BY name")
            .fetch_all(&self.catalog.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("value")?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::test_store;

    #[tokio::test]
    async fn set_get_list() {
        let (_dir, meta) = test_store().await;
        assert_eq!(meta.property("a.b").await.unwrap(), None);
        meta.set_property("a.b", "1").await.unwrap();
        meta.set_property("a.b", "2").await.unwrap();
        assert_eq!(meta.property("a.b").await.unwrap().as_deref(), Some("2"));
        assert_eq!(
            meta.properties().await.unwrap(),
            vec![("a.b".to_owned(), "2".to_owned())]
        );
    }
}
