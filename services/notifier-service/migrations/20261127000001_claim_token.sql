-- A fresh token per claim. A sender records an outcome only while the token it claimed with is still on
-- the row, so a sender whose claim lapsed and was taken over can neither re-queue nor settle the
-- delivery the new holder is sending.
ALTER TABLE deliveries ADD COLUMN claim_token uuid;
