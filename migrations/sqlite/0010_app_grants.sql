-- Apps and devices (spec section 11). An app grant is what a phone, an e-reader or an OPDS
-- app holds: a user's consent, revocable, with the provider sign-in it was approved through
-- (issuer, sub, sid, refresh token sealed to the grant) when the user has a linked identity.
--
-- Every secret is stored as its SHA-256 only. Access and refresh tokens are 256 random bits
-- and app passwords at least 120: far beyond any guessing, so a slow password hash (argon2)
-- would only cost time on every request without making a stolen table any less useless.
CREATE TABLE app_grants (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('mobile', 'device', 'app_password')),
    name TEXT NOT NULL,
    scope TEXT NOT NULL CHECK (scope IN ('full', 'read')),
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    last_used_ip TEXT,
    oidc_issuer TEXT,
    oidc_subject TEXT,
    oidc_sid TEXT,
    provider_refresh_enc TEXT,
    provider_access_expires_at BIGINT,
    access_hash TEXT UNIQUE,
    access_expires_at BIGINT,
    refresh_hash TEXT UNIQUE,
    app_password_hash TEXT UNIQUE,
    revoked_at BIGINT,
    revoked_reason TEXT
);
CREATE INDEX app_grants_user ON app_grants (user_id);
CREATE INDEX app_grants_identity ON app_grants (oidc_issuer, oidc_subject);
CREATE INDEX app_grants_sid ON app_grants (oidc_issuer, oidc_sid);

-- Refresh tokens already rotated away: presenting one again revokes its grant (RFC 9700
-- section 4.14.2).
CREATE TABLE app_grant_used_refresh (
    hash TEXT PRIMARY KEY,
    grant_id BIGINT NOT NULL REFERENCES app_grants(id) ON DELETE CASCADE,
    used_at BIGINT NOT NULL
);

-- Device sign-in (RFC 8628). The device code is stored hashed; the user code is what a
-- person types, normalised (8 letters, no dash).
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code TEXT NOT NULL UNIQUE,
    client_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    interval_secs BIGINT NOT NULL,
    last_poll_at BIGINT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    user_id BIGINT REFERENCES users(id) ON DELETE CASCADE,
    grant_id BIGINT REFERENCES app_grants(id) ON DELETE CASCADE
);
CREATE INDEX device_codes_expires ON device_codes (expires_at);

-- A provider round trip with intent `grant` (spec section 11.1), recorded on the session that
-- made it; the next approval takes it over for the grant it creates.
ALTER TABLE sessions ADD COLUMN grant_confirmed_at BIGINT;
ALTER TABLE sessions ADD COLUMN grant_issuer TEXT;
ALTER TABLE sessions ADD COLUMN grant_subject TEXT;
ALTER TABLE sessions ADD COLUMN grant_sid TEXT;
ALTER TABLE sessions ADD COLUMN grant_refresh_enc TEXT;
ALTER TABLE sessions ADD COLUMN grant_access_expires_at BIGINT;
