"""Browser tests: the real console, the demo OpenID provider and Debian's chromium."""
