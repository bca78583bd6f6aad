-- The whole schema of the first release. The SQLite and PostgreSQL files differ only in
-- identity columns and booleans (INTEGER 0/1 in SQLite, which sqlx's Any driver reads as
-- integers); times are milliseconds since the Unix epoch (BIGINT) in both.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    email TEXT UNIQUE,
    name TEXT NOT NULL,
    password_hash TEXT,
    is_admin INTEGER NOT NULL DEFAULT 0,
    permission_upload INTEGER NOT NULL DEFAULT 0,
    permission_download INTEGER NOT NULL DEFAULT 0,
    permission_delete_book INTEGER NOT NULL DEFAULT 0,
    permission_manage_library INTEGER NOT NULL DEFAULT 0,
    permission_email_book INTEGER NOT NULL DEFAULT 0,
    permission_access_bookdrop INTEGER NOT NULL DEFAULT 0,
    permission_access_library_stats INTEGER NOT NULL DEFAULT 0,
    permission_access_user_stats INTEGER NOT NULL DEFAULT 0,
    permission_manage_metadata_config INTEGER NOT NULL DEFAULT 0,
    permission_manage_global_preferences INTEGER NOT NULL DEFAULT 0,
    permission_access_task_manager INTEGER NOT NULL DEFAULT 0,
    permission_manage_icons INTEGER NOT NULL DEFAULT 0,
    permission_manage_fonts INTEGER NOT NULL DEFAULT 0,
    permission_edit_metadata INTEGER NOT NULL DEFAULT 0,
    permission_bulk_auto_fetch_metadata INTEGER NOT NULL DEFAULT 0,
    permission_bulk_custom_fetch_metadata INTEGER NOT NULL DEFAULT 0,
    permission_bulk_edit_metadata INTEGER NOT NULL DEFAULT 0,
    permission_bulk_regenerate_cover INTEGER NOT NULL DEFAULT 0,
    permission_move_organize_files INTEGER NOT NULL DEFAULT 0,
    permission_bulk_lock_unlock_metadata INTEGER NOT NULL DEFAULT 0,
    permission_sync_koreader INTEGER NOT NULL DEFAULT 0,
    permission_sync_kobo INTEGER NOT NULL DEFAULT 0,
    permission_access_opds INTEGER NOT NULL DEFAULT 0,
    permission_bulk_reset_booklore_read_progress INTEGER NOT NULL DEFAULT 0,
    permission_bulk_reset_ko_reader_read_progress INTEGER NOT NULL DEFAULT 0,
    permission_bulk_reset_book_read_status INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE libraries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE user_libraries (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    library_id BIGINT NOT NULL REFERENCES libraries(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, library_id)
);

CREATE TABLE oidc_identities (
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id BIGINT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);

-- Only the SHA-256 of a session id is stored: a leaked table cannot be replayed as cookies.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_method TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    oidc_sid TEXT,
    id_token TEXT,
    refresh_token_enc TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_oidc ON sessions (oidc_issuer, oidc_subject);

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor_user_id BIGINT,
    target_user_id BIGINT,
    client_ip TEXT,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_event ON audit_log (event);
CREATE INDEX audit_log_actor ON audit_log (actor_user_id);
CREATE INDEX audit_log_target ON audit_log (target_user_id);

-- Key/value settings; the row 'setup_completed' doubles as the lock that lets only one
-- first-run setup succeed.
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Every change that could break the admin invariants first writes this row, so such changes
-- run one at a time on both engines and each sees the one before it.
INSERT INTO settings (key, value, updated_at) VALUES ('admin_guard', '', 0);

-- One row per counted event (e.g. a sign-in attempt); kept in the database so limits hold
-- across replicas. `attempt` ties the rows of one attempt together, so they can be taken back
-- when the attempt turns out not to count (it succeeded, or was refused before checking).
CREATE TABLE rate_limit_hits (
    bucket TEXT NOT NULL,
    at BIGINT NOT NULL,
    attempt TEXT NOT NULL DEFAULT ''
);
CREATE INDEX rate_limit_hits_bucket ON rate_limit_hits (bucket, at);
