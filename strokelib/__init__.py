"""strokelib."""
