-- Where a job runs when its dispatcher outlives the request that started it (SSM: the command
-- id and the instance(s)), so a later poll — another request, a cron tick — can follow it.
ALTER TABLE jobs ADD COLUMN dispatch_ref TEXT;
