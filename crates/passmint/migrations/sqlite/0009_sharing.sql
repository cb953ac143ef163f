-- Share links and bundles (SPEC 9). A share token is looked up by its SHA-256 (`token_hash`), so
-- the index walk depends only on a hash of what a visitor sent, never on how much of a real
-- token it matched; the token itself is kept (like a pass's PassKit token) to show `shareUrl`.

-- A pass's current share link; replaced by POST …/passes/{id}/share, gone with the pass.
CREATE TABLE share_links (
    pass_id    TEXT PRIMARY KEY REFERENCES passes (id) ON DELETE CASCADE,
    token      TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- A bundle of 1-10 passes (Apple's .pkpasses), with its own share token.
CREATE TABLE bundles (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    token      TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

-- A deleted pass drops out of its bundles (cascade).
CREATE TABLE bundle_passes (
    bundle_id TEXT NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,
    pass_id   TEXT NOT NULL REFERENCES passes (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    PRIMARY KEY (bundle_id, pass_id)
);
CREATE INDEX bundle_passes_by_pass ON bundle_passes (pass_id);
