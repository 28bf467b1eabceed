"""Configuration: process settings, baton.yml and its playbooks, one model per source."""
