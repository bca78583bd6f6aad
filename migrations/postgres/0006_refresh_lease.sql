-- Refresh leases belong to one holder (refresh_lease, a random token: only it may store or
-- release), and a failed refresh waits (refresh_not_before) instead of being retried on the
-- next request.
ALTER TABLE sessions ADD COLUMN refresh_lease TEXT;
ALTER TABLE sessions ADD COLUMN refresh_not_before BIGINT;
