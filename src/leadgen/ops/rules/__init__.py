"""Pure decisions: rendered manifests and kubectl's JSON in, results out. No I/O here."""
