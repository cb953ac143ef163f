//! Side effects of domain changes, in one place.
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::issuing;
use crate::store::TemplateRecord;

/// Runs after a template was replaced (PUT), once the new row is stored.
///
/// Drops the cached signer of the old revision, then updates the passes whose rendering changed
/// (see [`issuing::retag_template_passes`]: batches by seq, fingerprints compared, tags and
/// pushes in the same transaction). A rename alone changes no fingerprint and pushes nothing.
pub async fn after_template_replaced(
    state: &AppState,
    before: &TemplateRecord,
    after: &TemplateRecord,
) -> Result<(), ApiError> {
    let _ = before;
    state.signers.invalidate(&after.id);
    let updated = issuing::retag_template_passes(state, &after.id)
        .await
        .map_err(crate::api::passes::issue_error)?;
    tracing::info!(template_id = %after.id, updated, "passes updated after template replace");
    Ok(())
}
