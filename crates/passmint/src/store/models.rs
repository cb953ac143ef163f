//! What the store keeps, as plain data (no wire formats: JSON shapes live in the API modules).
//! Ids are UUID strings; `*_at` are Unix milliseconds.

/// A template as written on create or replace.
#[derive(Clone)]
pub struct NewTemplate {
    pub id: String,
    pub name: String,
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
    /// The uploaded .zip, as checked by `pkpass`.
    pub template_zip: Vec<u8>,
    pub signer_cert_der: Vec<u8>,
    pub wwdr_der: Vec<u8>,
    /// The PKCS#8 key sealed under the master key (see `crypto::MasterKey::seal`).
    pub signer_key_sealed: Vec<u8>,
    /// Unix seconds.
    pub certificate_expires_at: i64,
}

impl std::fmt::Debug for NewTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewTemplate")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A template's descriptive columns (no blobs): what lists and GETs need.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TemplateRecord {
    pub seq: i64,
    pub id: String,
    pub name: String,
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
    pub certificate_expires_at: i64,
    /// Starts at 1, +1 on every replace: a cached signer for an older revision is stale.
    pub revision: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What it takes to issue passes from a template: the .zip and the signing material.
#[derive(Clone, sqlx::FromRow)]
pub struct TemplateMaterial {
    pub id: String,
    pub revision: i64,
    pub file_name: String,
    pub team_identifier: String,
    pub pass_type_identifier: String,
    pub template_zip: Vec<u8>,
    pub signer_cert_der: Vec<u8>,
    pub wwdr_der: Vec<u8>,
    pub signer_key_sealed: Vec<u8>,
}

impl std::fmt::Debug for TemplateMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateMaterial")
            .field("id", &self.id)
            .field("revision", &self.revision)
            .finish_non_exhaustive()
    }
}

/// An event to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub event_type: String,
    pub category: String,
    pub timestamp: i64,
    pub request_id: String,
    /// JSON text.
    pub data: String,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRecord {
    pub seq: i64,
    pub id: String,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub category: String,
    pub timestamp: i64,
    pub request_id: String,
    pub data: String,
    /// How many times it happened (device-side records aggregate repeats; 1 for the rest).
    pub count: i64,
    /// When it first happened (`timestamp` is the latest).
    pub first_seen: i64,
}
