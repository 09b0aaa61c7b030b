"""Problem family autonumerics (work in progress: registers nothing yet)."""
