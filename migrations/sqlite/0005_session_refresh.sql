-- Refreshing OIDC sessions with the provider's refresh token (spec section 7): when the
-- access token goes stale, a lease (refreshing_until) lets one replica refresh at a time,
-- and refresh_version tells a refresh that another one succeeded meanwhile.
ALTER TABLE sessions ADD COLUMN access_expires_at BIGINT;
ALTER TABLE sessions ADD COLUMN refreshing_until BIGINT;
ALTER TABLE sessions ADD COLUMN refresh_version BIGINT NOT NULL DEFAULT 0;
