"""Lead sources: who sends the agency leads, and what each of their leads costs."""
