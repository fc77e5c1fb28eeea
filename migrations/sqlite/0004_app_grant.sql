-- The local application's OAuth grant (Open Lines bridge): one row, written when a portal
-- administrator connects the app and on every refresh (both tokens rotate together).
CREATE TABLE app_grant (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    access_token  TEXT    NOT NULL,
    refresh_token TEXT    NOT NULL,
    expires_at    INTEGER NOT NULL,
    member_id     TEXT    NOT NULL,
    user_id       INTEGER NOT NULL,
    user_name     TEXT    NOT NULL,
    scopes        TEXT    NOT NULL,
    authorized_at INTEGER NOT NULL,
    refreshed_at  INTEGER,
    -- Set when the OAuth server refused the refresh token: the admin must connect again.
    revoked_at    INTEGER,
    revoked_why   TEXT
);

-- `state` values of browser authorisations in progress (one use each, short-lived).
CREATE TABLE oauth_states (
    state      TEXT    PRIMARY KEY NOT NULL,
    created_at INTEGER NOT NULL
);
