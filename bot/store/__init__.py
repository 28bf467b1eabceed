"""What people read, persisted: runs, events, PRs, approvals, audit, inbox; migrations."""
