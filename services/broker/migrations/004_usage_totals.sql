-- What we have recorded per provider, kept with each usage insert: a call's answer carries the
-- provider's running total, and summing every usage row per call grew with the table.
CREATE TABLE usage_totals (
    provider text PRIMARY KEY,
    total_neuron numeric(78, 0) NOT NULL
);
INSERT INTO usage_totals (provider, total_neuron)
    SELECT provider, sum(fee_neuron) FROM usage GROUP BY provider;
