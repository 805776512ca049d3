"""Crash and recovery tests with real processes."""
