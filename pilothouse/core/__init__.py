"""Wire types, the error tree, the config schema, records and ports: the bottom layer."""
