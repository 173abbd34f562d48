"""The eventsourcing library's own PostgreSQL recorder as an engine of this project: a peer row
beside the reference (README.md)."""
