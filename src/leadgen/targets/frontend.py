"""Placeholder replaced by the frontend work in progress."""
