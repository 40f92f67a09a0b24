-- Check-in timers (a dead man's switch): a reporter's running timer. Its due time and the
-- reminder are rows in `timers` (kinds checkin_due, checkin_remind, subject = this id); the
-- row is deleted when the timer ends, so an old "I'm OK" button finds nothing to stop.
-- AUTOINCREMENT: an id is never reused, so a button of an ended timer never stops a new one.
CREATE TABLE checkins (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL UNIQUE REFERENCES people (user_id),
    started_at REAL NOT NULL,
    due_at     REAL NOT NULL
);

-- A reporter's current live-location share: the last position the bot stored from it and
-- when. It serves a running check-in (where to send help) and an open alert (throttling,
-- the stale mark, the end of the share); deleted once neither needs it.
-- Personal values: lat, lon, accuracy_m (and located_at, the time of the fix).
CREATE TABLE live_shares (
    user_id    INTEGER PRIMARY KEY REFERENCES people (user_id),
    lat        REAL NOT NULL,
    lon        REAL NOT NULL,
    accuracy_m REAL,
    located_at REAL NOT NULL,     -- when the phone took the fix
    stored_at  REAL NOT NULL,     -- when the bot stored it (the throttle counts from here)
    live_until REAL,              -- end of the live period; NULL: until the person stops it
    state      TEXT NOT NULL DEFAULT 'live' CHECK (state IN ('live', 'silent', 'ended'))
);

-- An alert raised by itself because its reporter missed a check-in: when that was due.
ALTER TABLE alerts ADD COLUMN missed_checkin_at REAL;
