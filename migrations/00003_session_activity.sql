-- +goose Up
-- Session activity: the IP address and user agent of a session's latest use
-- (sign-in, then every rotation), beside the sign-in ones (ip_address,
-- user_agent), which never change. Written in the rotation's own UPDATE, so
-- recording them costs no extra round trip. Both are nullable: rows from
-- before this migration have none until their next refresh.
ALTER TABLE sessions
    ADD COLUMN last_ip         inet,
    ADD COLUMN last_user_agent text;

-- +goose Down
ALTER TABLE sessions
    DROP COLUMN IF EXISTS last_user_agent,
    DROP COLUMN IF EXISTS last_ip;
