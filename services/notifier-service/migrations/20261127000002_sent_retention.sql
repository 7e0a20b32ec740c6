-- The retention purge finds SENT deliveries by age.
CREATE INDEX deliveries_sent_at_idx ON deliveries (sent_at) WHERE status = 'SENT';
