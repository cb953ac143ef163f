//! Findings about a template: errors that stop it, warnings that don't.

/// One thing wrong (or worth knowing) about a template.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    /// Where: a file name inside the template (`de.lproj/pass.strings`, `icon.png`) or a JSON path
    /// into `pass.json` (`pass.json: storeCard.headerFields[0].key`).
    pub location: String,
    /// What is wrong, in words a template author understands.
    pub message: String,
}

/// Everything found while checking a template, all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    pub errors: Vec<Problem>,
    pub warnings: Vec<Problem>,
}
