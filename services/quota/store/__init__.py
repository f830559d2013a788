"""All of quota's SQL, one module per resource; functions take the pool (or a connection) first."""
