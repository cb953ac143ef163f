//! Google Wallet sync (SPEC 13): the worker that drains the Google outbox
//! (`store::google`) through `gwallet::Client`, and the start-up that reads the settings.
//!
//! Off and silent unless `PASSMINT_GOOGLE_ISSUER_ID` and `PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE`
//! are both set: no worker, nothing queued, no `googleSaveUrl`, no `/assets/…`.
mod worker;

pub use worker::{GoogleWorker, GoogleWorkerConfig};

use crate::app::LaunchError;
use crate::config::GoogleSettings;
use crate::domain::google::GoogleConfig;

/// Reads the service account key and builds the API client, when Google Wallet is configured.
/// A key file that can't be read or isn't a service account key stops the start (one error,
/// before the server says it is listening); a plain `http://` API or token URL is allowed with
/// a warning (tests, a local proxy).
pub fn prepare(
    settings: Option<&GoogleSettings>,
    public_url: &str,
) -> Result<Option<(GoogleConfig, gwallet::Client)>, LaunchError> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let file = settings.service_account_file.display();
    let account = gwallet::ServiceAccount::from_file(&settings.service_account_file)
        .map_err(|e| LaunchError::Google(format!("PASSMINT_GOOGLE_SERVICE_ACCOUNT_FILE {file}: {e}")))?;
    let client_settings = gwallet::Settings {
        api_url: settings.api_url.clone(),
        token_url: settings.token_url.clone(),
        ..gwallet::Settings::default()
    };
    // gwallet::Client::new logs each plain-http URL as a warning.
    let client = gwallet::Client::new(account.clone(), &client_settings)
        .map_err(|e| LaunchError::Google(e.to_string()))?;
    if public_url.starts_with("http://") {
        tracing::warn!(
            %public_url,
            "Google Wallet fetches pass images from the public URL: it must be reachable from the internet"
        );
    }
    tracing::info!(
        issuer_id = %settings.issuer_id,
        client_email = %account.client_email(),
        "Google Wallet is on"
    );
    Ok(Some((
        GoogleConfig {
            issuer_id: settings.issuer_id.clone(),
            account,
            save_url: settings.save_url.clone(),
            public_url: public_url.to_string(),
        },
        client,
    )))
}
