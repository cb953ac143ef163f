//! Side effects of domain changes, in one place.
use crate::api::error::ApiError;
use crate::app::AppState;
use crate::store::TemplateRecord;

/// Runs after a template was replaced (PUT), once the new row is stored.
///
/// Today it drops the cached signer of the old revision. This is the hook for the pass-update
/// side effects of SPEC 2.2/4: re-render the template's passes (in batches, or bump their tag
/// and render on fetch), give the changed ones a new update tag and `last_modified`, and queue a
/// push for each of their registrations. `before` and `after` tell whether anything that is
/// rendered changed (a rename alone is not an update).
pub async fn after_template_replaced(
    state: &AppState,
    before: &TemplateRecord,
    after: &TemplateRecord,
) -> Result<(), ApiError> {
    let _ = before;
    state.signers.invalidate(&after.id);
    Ok(())
}
