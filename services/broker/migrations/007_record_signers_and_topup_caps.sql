-- The address a provider's responses recovered to when we acknowledged it (TargetTeeAddress
-- when its TEE signer is separated, else tee_signer); '' in rows written before, which mean
-- tee_signer. Verification trusts only this signer, and only while the contract owner still
-- vouches for the recorded tee_signer.
ALTER TABLE acknowledgements ADD COLUMN response_signer text NOT NULL DEFAULT '';

-- The most one top-up may move; a top-up above it is refused (error TOPUP_ABOVE_CAP, no
-- transaction) and recorded with the cap that refused it. NULL in rows written before.
ALTER TABLE top_ups ADD COLUMN cap_neuron numeric(78, 0);
