"""One screen per phase, plus the home screen."""
