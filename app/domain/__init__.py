"""Domain operations: what happens when a request is created, changes status, gets a document."""
