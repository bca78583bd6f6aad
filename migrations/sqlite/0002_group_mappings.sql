-- OIDC group mappings (spec section 5.4). Permissions and libraries are JSON arrays of names
-- and ids; ids of deleted libraries are dropped when read.
CREATE TABLE oidc_group_mappings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    group_claim TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    is_admin INTEGER NOT NULL DEFAULT 0,
    permissions TEXT NOT NULL DEFAULT '[]',
    library_ids TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL
);
