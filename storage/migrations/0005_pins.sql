-- A reporter's cancel PIN and duress PIN (issue 15), stored only as slow salted hashes
-- (scrypt, each with its own salt), never the digits. ``pending_hash`` holds a new PIN
-- while its duress partner is being chosen, so no PIN is ever kept in clear. ``awaiting``
-- says what the person's next message is ('cancel', 'old', 'new', 'duress'), since when,
-- and for which alert; ``fake`` marks a change begun with the duress PIN (it changes
-- nothing). Wrong PINs are counted here, so a lockout survives a restart.
CREATE TABLE pins (
    user_id          INTEGER PRIMARY KEY REFERENCES people (user_id),
    pin_hash         TEXT,
    duress_hash      TEXT,
    pending_hash     TEXT,
    awaiting         TEXT,
    awaiting_alert   INTEGER,
    awaiting_since   REAL,
    fake             INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    first_failure_at REAL,
    locked_until     REAL
);

-- An alert cancelled with the duress PIN: it stays open, escalates, and its cards say
-- DURESS. While ``concealed``, the reporter's chat is told nothing more about it and
-- answers as if nothing were open; an SOS from them ends that.
ALTER TABLE alerts ADD COLUMN duress_at REAL;
ALTER TABLE alerts ADD COLUMN concealed INTEGER NOT NULL DEFAULT 0;
