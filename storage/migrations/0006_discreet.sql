-- Discreet mode (issue 15, point 5): a reporter whose phone may be seized gets neutral
-- wording in their chat, and the bot clears that chat when an alert closes. On by default
-- for reporters who register from now on (set at registration); people registered before
-- keep the wording they know until they send /discreet on.
ALTER TABLE people ADD COLUMN discreet INTEGER NOT NULL DEFAULT 0;
