"""All of the scheduler's SQL, one module per resource."""
