"""Insurance lead platform."""
