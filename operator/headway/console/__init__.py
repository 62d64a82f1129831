"""The web console: a page and a small API acting as the signed-in person."""
