"""Where data lands: the tables (`models`), engines set up per dialect (`engine`), the batched
writes the sync makes (`writes`), the per-account writer lock (`locks`) and migrations
(`migrate`)."""
