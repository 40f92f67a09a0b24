-- The SMS channel through gammu-smsd (issue 13).
--
-- A person's phone number, sealed (storage.crypto.PERSONAL), with a keyed hash beside it
-- (HMAC under a key derived from the data key) so that an incoming SMS finds its sender
-- without opening every row. Only a confirmed number (confirmed_at set) counts; until
-- then code_hash holds the hash of the code sent to it by SMS. code_word (sealed) starts
-- a reporter's SMS alert; sms_paging is a lawyer's choice: never, fallback or always.
CREATE TABLE phones (
    user_id INTEGER PRIMARY KEY REFERENCES people (user_id),
    number TEXT NOT NULL,
    number_hash TEXT NOT NULL,
    code_word TEXT,
    code_hash TEXT,
    code_sent_at REAL,
    code_failures INTEGER NOT NULL DEFAULT 0,
    confirmed_at REAL,
    sms_paging TEXT NOT NULL DEFAULT 'never'
);
CREATE INDEX phones_by_number ON phones (number_hash);

-- Inbox files already taken in: the keyed hash of the file name (which holds the sender's
-- number), written in the same transaction as what the SMS caused, so a file left behind
-- by a kill between the commit and its removal is removed, not taken in twice.
CREATE TABLE sms_seen (
    file_hash TEXT PRIMARY KEY,
    at REAL NOT NULL
);

-- Outgoing SMS, each a row first (written with the change it reports), then a file in
-- gammu-smsd's outbox named after the row id, so a restart writes what was not yet
-- written and never writes a row twice. state: pending (not yet written), queued (in the
-- outbox folder), sent, failed, superseded (an answer replaced by a newer one before it
-- was written). number and text are sealed.
CREATE TABLE sms_out (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    alert_id INTEGER,
    kind TEXT NOT NULL,
    number TEXT NOT NULL,
    text TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL DEFAULT 0,
    written_at REAL,
    created_at REAL NOT NULL
);
CREATE INDEX sms_out_by_state ON sms_out (state, not_before);
CREATE INDEX sms_out_by_alert ON sms_out (alert_id, user_id);
