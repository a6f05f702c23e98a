-- 0006_tokens: token scope, lifetime and last use (issue 7).  models is an
-- fnmatch glob of the model names a token may touch (NULL: all); stages a
-- comma-separated list of the stages its stage-directed moves may target
-- (NULL: all); expires_at the time (ms) after which it is refused like a
-- revoked one (NULL: never); last_used_at the last time (ms) it was accepted,
-- flushed from memory at most once per --token-touch-interval.
-- See docs/security.md "Token scopes, expiry and last use".

ALTER TABLE tokens ADD COLUMN models TEXT;
ALTER TABLE tokens ADD COLUMN stages TEXT;
ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
ALTER TABLE tokens ADD COLUMN last_used_at INTEGER;
