"""Every service target started alone as a real process."""
