"""kubectl headway: the command line for people."""
