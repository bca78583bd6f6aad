-- The client that started a pending sign-in (its address, or its IPv6 /64), so each client's
-- share of pending sign-ins can be bounded: a flood then evicts its own first.
ALTER TABLE pending_logins ADD COLUMN client_key TEXT NOT NULL DEFAULT '';
CREATE INDEX pending_logins_client ON pending_logins (client_key, created_at);
