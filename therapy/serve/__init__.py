"""therapy serve: an SSH door of our own (asyncssh), where each connection runs the app in
its own process on a pty. Importing this package imports no asyncssh: `server` does."""
