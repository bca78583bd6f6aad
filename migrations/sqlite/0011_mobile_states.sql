-- The mobile app's sign-in states (spec section 11.2): handed out by GET
-- /api/v1/auth/oidc/state, taken once by the app's callback within five minutes, on any
-- replica. Only their hashes are stored; `client_key` caps what one client may hold.
CREATE TABLE mobile_states (
    state_hash TEXT PRIMARY KEY,
    client_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX mobile_states_created ON mobile_states (created_at);
CREATE INDEX mobile_states_client ON mobile_states (client_key, created_at);
