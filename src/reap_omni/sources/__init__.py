"""How bytes arrive: one module per kind of source (Hub parquet, tar streams, zip ranges, ...)."""
