"""Where data lands: the tables (`models`), engines set up per dialect (`engine`, with the
read-only connection `reading`), what differs per database (`dialects`), the history rows
(`history`) and the run ledger (`writes`), the per-account writer lock (`locks`), whether a
database is ready for this syncer (`schema`) and migrations (`migrate`)."""
