-- Back-channel logout token ids already used (spec section 7), so a captured token cannot be
-- replayed; each is kept until max(exp, iat + 6 minutes).
CREATE TABLE logout_token_jtis (
    issuer TEXT NOT NULL,
    jti TEXT NOT NULL,
    keep_until BIGINT NOT NULL,
    PRIMARY KEY (issuer, jti)
);
CREATE INDEX logout_token_jtis_keep ON logout_token_jtis (keep_until);
