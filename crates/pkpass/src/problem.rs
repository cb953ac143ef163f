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

impl Problem {
    /// A problem at `location` described by `message`.
    pub fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Everything found while checking a template, all at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Problems that make the template unusable.
    pub errors: Vec<Problem>,
    /// Problems worth knowing that don't stop the template.
    pub warnings: Vec<Problem>,
}

impl Findings {
    /// Records an error.
    pub fn error(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.errors.push(Problem::new(location, message));
    }

    /// Records a warning.
    pub fn warn(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.warnings.push(Problem::new(location, message));
    }

    /// True when there is no error (warnings allowed).
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}
