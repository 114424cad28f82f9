//! Cluster properties: named settings in the shared store, so every gateway sees a change.
//! Only the properties `osg_model::properties` defines, with values they take, are stored.

use osg_model::properties::{self, Type};
use sqlx::Row;

use crate::write::{Isolation, transaction};
use crate::{Error, Meta, Result};

impl Meta {
    /// The stored value of `name` (`None`: not set, its default applies).
    pub async fn property(&self, name: &str) -> Result<Option<String>> {
        let value = sqlx::query_scalar("SELECT value FROM properties WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.catalog.pool)
            .await?;
        Ok(value)
    }

    /// Sets `name` to `value`, which must be a value the property takes (a provider property:
    /// a registered provider, or the embedded Walrus).
    pub async fn set_property(&self, name: &str, value: &str) -> Result<()> {
        let property = properties::find(name).map_err(|e| Error::Invalid(e.to_string()))?;
        property.check(value).map_err(|e| Error::Invalid(e.to_string()))?;
        if property.kind == Type::Provider
            && value != osg_model::blob::EMBEDDED
            && !self.providers().await?.iter().any(|p| p.name == value)
        {
            return Err(Error::Invalid(format!(
                "{name} takes {}: there is no provider {value}",
                property.kind
            )));
        }
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

    /// Removes `name`'s value (its default applies again); returns whether one was set. Any
    /// name, so that values stored before they were checked can be cleared.
    pub async fn unset_property(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM properties WHERE name = $1")
            .bind(name)
            .execute(&self.catalog.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every stored value, by name.
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
    use crate::{Error, test_store};

    #[tokio::test]
    async fn set_get_list_unset() {
        let (_dir, meta) = test_store().await;
        let rate = "osg.lifecycle.rate";
        assert_eq!(meta.property(rate).await.unwrap(), None);
        meta.set_property(rate, "1").await.unwrap();
        meta.set_property(rate, "2").await.unwrap();
        assert_eq!(meta.property(rate).await.unwrap().as_deref(), Some("2"));
        assert_eq!(
            meta.properties().await.unwrap(),
            vec![(rate.to_owned(), "2".to_owned())]
        );
        assert!(meta.unset_property(rate).await.unwrap());
        assert!(!meta.unset_property(rate).await.unwrap());
        assert_eq!(meta.property(rate).await.unwrap(), None);
    }

    #[tokio::test]
    async fn only_values_a_property_takes_are_stored() {
        let (_dir, meta) = test_store().await;
        for (name, value, says) in [
            ("osg.backnd", "walrus", "no property osg.backnd"),
            ("osg.lifecycle.rate", "fast", "a whole number from 1 to 1000000"),
            ("s3.sse-c.allow-http", "yes", "true or false"),
            ("osg.backend", "nowhere", "there is no provider nowhere"),
        ] {
            match meta.set_property(name, value).await {
                Err(Error::Invalid(why)) => assert!(why.contains(says), "{why}"),
                other => panic!("{name}={value}: {other:?}"),
            }
        }
        assert!(meta.properties().await.unwrap().is_empty());
        meta.set_property("osg.backend", "walrus").await.unwrap();
    }
}
