-- 0006: who owned each entry when it was captured, so that root can
-- restore owners and a setuid or setgid bit is never kept on a file that
-- did not get its recorded owner. NULL: not recorded (versions captured
-- before this migration).
ALTER TABLE version ADD COLUMN uid INTEGER;
ALTER TABLE version ADD COLUMN gid INTEGER;
