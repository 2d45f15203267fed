-- 0011: a source's replica (cairn policy set DIR --replicate TARGET): the
-- repository is replicated to replica (s3://bucket/prefix or an absolute
-- directory) after every snapshot of the source; replica_endpoint is the
-- S3 server of an s3:// replica ('' or NULL: $CAIRN_S3_ENDPOINT, else AWS).
-- NULL is none.
ALTER TABLE source ADD COLUMN replica TEXT;
ALTER TABLE source ADD COLUMN replica_endpoint TEXT;
