"""Problem family compression (work in progress: registers nothing yet)."""
