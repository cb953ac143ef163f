-- Issuing (issue 8): a per-pass version, bumped by every write of the row, is what a PATCH
-- compares-and-sets on (comparing the stored JSON text was costly and fragile).
ALTER TABLE passes ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
