"""Movies: content fingerprint (fingerprint), probing (probe), metadata CSV, ingest, catalog."""
