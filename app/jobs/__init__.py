"""Background work: job functions take ids and open their own session; safe to run twice."""
