"""The provider simulator (being written)."""
