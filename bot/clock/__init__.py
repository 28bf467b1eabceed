"""The clock: APScheduler jobs (cron playbooks, reminders, expiry, polls, cleanup)."""
