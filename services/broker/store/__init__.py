"""Every SQL statement of the broker, one module per resource. Functions take the pool (or a
connection inside a transaction) first."""
