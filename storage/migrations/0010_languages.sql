-- Each press-freedom group reads its notices in its own language (/connect ru|kk|en);
-- groups connected before this read Russian, the default.
ALTER TABLE groups ADD COLUMN language TEXT NOT NULL DEFAULT 'ru';
