"""All queries of the store. Repository functions only flush; the caller (a request, a task, a
CLI command) commits, so one unit of work is one transaction."""
