-- Try Sign-in (spec section 12). A dry run's pending sign-in carries the unsaved form it runs
-- with (the settings as JSON, the client secret sealed to this pending sign-in) and the hash
-- of the admin's session it is bound to; `link_user_id` holds the admin who started it.
ALTER TABLE pending_logins ADD COLUMN trial_settings TEXT;
ALTER TABLE pending_logins ADD COLUMN trial_secret TEXT;
ALTER TABLE pending_logins ADD COLUMN session_hash TEXT;
-- The reports of dry runs: readable by the admin who started one, for ten minutes. Only
-- hashes of their ids are stored.
CREATE TABLE sign_in_trials (
    id_hash TEXT PRIMARY KEY,
    owner_id BIGINT NOT NULL,
    report TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX sign_in_trials_created ON sign_in_trials (created_at);
