-- Drop the monitoring functions and tables of 0005.monitoring.
DROP FUNCTION dq_monitoring_sample(float8, float8);
DROP TABLE queue_samples;
DROP TABLE monitoring_watermark;
DROP TABLE monitoring_totals;
DROP FUNCTION dq_queue_gauges();
DROP FUNCTION dq_uuid_floor(timestamptz);
