-- People: the least that serves a case. user_id is the Telegram user id, which is also the
-- private chat id the bot writes to.
CREATE TABLE people (
    user_id        INTEGER PRIMARY KEY,
    role           TEXT NOT NULL DEFAULT 'reporter'
                   CHECK (role IN ('reporter', 'lawyer', 'coordinator')),
    display_name   TEXT,                 -- chosen by the person; may be a pseudonym
    region         TEXT,                 -- a key of bot.regions
    language       TEXT NOT NULL DEFAULT 'en',
    serves_regions TEXT NOT NULL DEFAULT '',   -- lawyers: comma-separated region keys
    speaks         TEXT NOT NULL DEFAULT '',   -- lawyers: comma-separated language codes
    share_location INTEGER NOT NULL DEFAULT 0, -- reporter agreed groups see the exact spot
    step           TEXT NOT NULL DEFAULT 'consent', -- onboarding step; 'done' when registered
    on_call        INTEGER NOT NULL DEFAULT 0,
    on_call_until  REAL,
    created_at     REAL NOT NULL,
    updated_at     REAL NOT NULL
);
CREATE INDEX people_role ON people (role, on_call);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY,
    reporter_id     INTEGER NOT NULL REFERENCES people (user_id),
    state           TEXT NOT NULL DEFAULT 'open'
                    CHECK (state IN ('open', 'acknowledged', 'claimed', 'closed')),
    region          TEXT,
    lat             REAL,
    lon             REAL,
    accuracy_m      REAL,
    located_at      REAL,                -- when the position was taken, not received
    created_at      REAL NOT NULL,
    urgent          INTEGER NOT NULL DEFAULT 0,
    wave            INTEGER NOT NULL DEFAULT 1,
    acknowledged_by INTEGER REFERENCES people (user_id),
    acknowledged_at REAL,
    claimed_by      INTEGER REFERENCES people (user_id),
    claimed_at      REAL,
    last_update_at  REAL,
    safe_at         REAL,                -- reporter said "I'm safe"
    closed_at       REAL,
    outcome         TEXT
);
-- One open alert per reporter: a second tap adds to it instead of duplicating.
CREATE UNIQUE INDEX alerts_one_open ON alerts (reporter_id) WHERE state != 'closed';
CREATE INDEX alerts_state ON alerts (state, created_at);

-- Append-only timeline. detail is JSON.
CREATE TABLE alert_events (
    id       INTEGER PRIMARY KEY,
    alert_id INTEGER NOT NULL REFERENCES alerts (id),
    at       REAL NOT NULL,
    kind     TEXT NOT NULL,
    actor_id INTEGER,
    detail   TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, id);
CREATE TRIGGER alert_events_append_only_u BEFORE UPDATE ON alert_events
BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END;
CREATE TRIGGER alert_events_append_only_d BEFORE DELETE ON alert_events
BEGIN SELECT RAISE(ABORT, 'alert_events is append-only'); END;

-- Who was paged for which alert: the basis of "a lawyer sees alerts they were notified of".
CREATE TABLE alert_recipients (
    alert_id  INTEGER NOT NULL REFERENCES alerts (id),
    user_id   INTEGER NOT NULL,
    wave      INTEGER NOT NULL,
    added_at  REAL NOT NULL,
    PRIMARY KEY (alert_id, user_id)
);
CREATE INDEX alert_recipients_user ON alert_recipients (user_id);

-- The outbox: every message is a row before it is sent.
-- pending -> sent | failed; 'superseded' when a newer edit replaced it. A row stays pending
-- while its request is in flight, so a crash at any moment means "send again".
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    chat_id     INTEGER NOT NULL,
    alert_id    INTEGER REFERENCES alerts (id),
    kind        TEXT NOT NULL,
    priority    INTEGER NOT NULL,
    state       TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'sent', 'failed', 'superseded')),
    payload     TEXT NOT NULL,           -- JSON of bot.messages.Outgoing
    target_id   INTEGER REFERENCES outbox (id), -- edits: the row whose message is edited
    attempts    INTEGER NOT NULL DEFAULT 0,
    not_before  REAL NOT NULL,           -- a retry's earliest time; 0: at once
    created_at  REAL NOT NULL,
    sent_at     REAL,
    message_id  INTEGER,
    error       TEXT
);
CREATE INDEX outbox_due ON outbox (state, priority, id);
CREATE INDEX outbox_alert ON outbox (alert_id, chat_id);
CREATE INDEX outbox_target ON outbox (target_id);

-- Every due time is a row (escalation waves, claim timeouts, on-call ends, ...).
CREATE TABLE timers (
    kind       TEXT NOT NULL,
    subject_id INTEGER NOT NULL,
    due_at     REAL NOT NULL,
    PRIMARY KEY (kind, subject_id)
);
CREATE INDEX timers_due ON timers (due_at);

-- Invite codes: only a hash is stored, so a database thief cannot use an unused code.
CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    role       TEXT NOT NULL CHECK (role IN ('lawyer', 'coordinator')),
    created_by INTEGER NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_by    INTEGER,
    used_at    REAL
);

-- Press-freedom groups the bot posts notices to.
CREATE TABLE groups (
    chat_id      INTEGER PRIMARY KEY,
    connected_by INTEGER NOT NULL,
    connected_at REAL NOT NULL
);

-- Small named values that must survive restarts (e.g. the getUpdates offset).
CREATE TABLE kv (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
