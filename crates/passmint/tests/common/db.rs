//! Fresh databases for tests: an SQLite file in a temp dir, or a randomly named PostgreSQL
//! database on `PASSMINT_TEST_POSTGRES_URL`, dropped afterwards.
#![allow(dead_code)]

use passmint::store::Store;
use sqlx::Connection;

/// A database that lives as long as this value.
pub struct TestDb {
    pub url: String,
    pub dir: tempfile::TempDir,
    cleanup: Option<(String, String)>, // (admin URL, database name)
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("passmint.db").display());
        Self {
            url,
            dir,
            cleanup: None,
        }
    }

    /// `None` (after printing "skipped") when `PASSMINT_TEST_POSTGRES_URL` is unset.
    pub async fn postgres(test: &str) -> Option<Self> {
        let Some(admin_url) = std::env::var("PASSMINT_TEST_POSTGRES_URL")
            .ok()
            .filter(|v| !v.is_empty())
        else {
            eprintln!("skipped {test} on PostgreSQL: PASSMINT_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("passmint_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        let url = replace_database(&admin_url, &name);
        Some(Self {
            url,
            dir: tempfile::tempdir().unwrap(),
            cleanup: Some((admin_url, name)),
        })
    }

    pub async fn store(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Drops a PostgreSQL database (call at the end of a test; Drop can't be async).
    pub async fn drop_db(self) {
        if let Some((admin_url, name)) = &self.cleanup {
            let mut conn = sqlx::PgConnection::connect(admin_url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
            conn.close().await.unwrap();
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..path_start], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Declares `#[tokio::test]`s `<name>_on_sqlite` and `<name>_on_postgres` running the async fn
/// `$case(TestDb)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => $case:ident;)*) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::db::TestDb::sqlite().await;
                    super::$case(&db).await;
                    db.drop_db().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::common::db::TestDb::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$case(&db).await;
                    db.drop_db().await;
                }
            )*
        }
    };
}
