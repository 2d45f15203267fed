-- 0010: reserved for the multiwriter branch (writer slots), which owns
-- this number; the replbench branch needs 0011 and holds this empty step
-- only so that its versions have no gap. At the merge, multiwriter's 0010
-- replaces this file (delete it).
SELECT 1;
