//! What the commands do; `main.rs` only parses the command line and calls these.
use anyhow::Context;
use tokio::net::TcpListener;

use crate::app::AppState;
use crate::config::Settings;
use crate::store::Store;
use crate::tokens;

/// Sets up structured logs (`RUST_LOG` filters; `log_format = "json"` for JSON lines).
pub fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only for a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if settings.log_format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// `passmint serve`: runs until SIGINT/SIGTERM, then finishes requests in flight.
pub async fn serve(settings: Settings) -> anyhow::Result<()> {
    init_logging(&settings);
    tracing::info!(settings = ?settings, "starting");
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
    let bound = listener.local_addr()?;
    let state = AppState::prepare(settings, bound).await?;
    println!("passmint listening on http://{bound}");
    println!("  public URL:  {}", state.public_url);
    println!("  database:    {}", state.settings.database_url_for_display());
    println!("  data dir:    {}", state.settings.data_dir.display());
    println!(
        "  admin token: run `passmint token create` (same data dir / database) and send \
         `Authorization: Bearer <token>`, or set PASSMINT_ADMIN_TOKEN"
    );
    crate::app::serve(state, listener, shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested: finishing requests in flight");
}

async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    crate::private_files::create_private_dir(&settings.data_dir)
        .with_context(|| format!("cannot create {}", settings.data_dir.display()))?;
    Store::connect(settings.database_url.expose())
        .await
        .with_context(|| format!("cannot open the database {}", settings.database_url_for_display()))
}

/// `passmint migrate`.
pub async fn migrate(settings: Settings) -> anyhow::Result<()> {
    let store = open_store(&settings).await?;
    println!(
        "database {} ({}) is up to date",
        settings.database_url_for_display(),
        store.backend_name()
    );
    Ok(())
}

/// `passmint token create`: prints a new admin token; only its hash is stored.
pub async fn create_token(settings: Settings, label: Option<String>) -> anyhow::Result<String> {
    let store = open_store(&settings).await?;
    let (token, hash) = tokens::generate();
    store
        .insert_api_token(&uuid::Uuid::new_v4().to_string(), &hash, label.as_deref())
        .await?;
    Ok(token)
}
