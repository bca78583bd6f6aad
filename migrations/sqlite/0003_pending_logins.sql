-- Sign-ins started at the provider and not yet finished (spec section 4, step 1). Kept in the
-- database so the callback may land on another replica; single use, ten-minute lifetime.
-- Only hashes of the state and of the browser id are stored.
CREATE TABLE pending_logins (
    state_hash TEXT PRIMARY KEY,
    browser_hash TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    issuer TEXT NOT NULL,
    client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    return_to TEXT NOT NULL,
    intent TEXT NOT NULL,
    link_user_id BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX pending_logins_browser ON pending_logins (browser_hash, created_at);
CREATE INDEX pending_logins_created ON pending_logins (created_at);
