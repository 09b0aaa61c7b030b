"""Problem family adrs (work in progress: registers nothing yet)."""
