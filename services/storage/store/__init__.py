"""All of storage's SQL, one module per resource: namespaces, objects, contents, uploads."""
