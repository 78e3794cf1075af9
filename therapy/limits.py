"""Every limit therapy enforces, in one place (the README's "Limits" lists the same).

Each is far beyond what a real retro reaches, and each, when reached, is said in one
sentence: they keep one hostile participant or one hostile file from taking a session, a
host or everyone's terminal down.
"""

from __future__ import annotations

# Files in the data folder: a larger one is damage, named and never read whole.
SESSION_FILE_BYTES = 32 * 1024 * 1024  # 2,000 complaints of 1,000 characters is ~8 MB
INDEX_FILE_BYTES = 8 * 1024 * 1024  # ~100 bytes a session: 80,000 sessions
LOCK_FILE_BYTES = 4096  # a lock file holds an 8-byte grant count and nothing else
# A lock is waited for at most this many times its timeout, however the queue seems to move:
# the grant count in a group-writable lock file can be faked by anyone in the group.
LOCK_WAIT_TURNS = 8

# Text a person types, in characters after cleaning; a longer one in a session file is damage.
COMPLAINT_CHARS = 1_000  # complaints, wins and appreciations
TITLE_CHARS = 120
SIDE_CHARS = 40
NAME_CHARS = 60  # a person's or a pair's name
OWNER_CHARS = 80
ACTION_CHARS = 300
METRIC_CHARS = 200
STORED_TEXT_CHARS = 2_000  # any other text in a session file: times, keys, a wiki's address

# One session.
COMPLAINTS_PER_SESSION = 2_000
WINS_PER_SESSION = 2_000
ACTIONS_PER_SESSION = 500
PARTICIPANTS_PER_SESSION = 500
ROWS_PER_SESSION = {  # the same, by the session's table they bound
    "complaints": COMPLAINTS_PER_SESSION,
    "wins": WINS_PER_SESSION,
    "actions": ACTIONS_PER_SESSION,
    "participants": PARTICIPANTS_PER_SESSION,
}

# One participant: cards (complaints and wins) added in any sixty seconds, from the app,
# `therapy add` or an SSH login alike; a person typing reaches a handful.
ADDS_PER_MINUTE = 20
ADDS_WINDOW = 60  # seconds: the minute of ADDS_PER_MINUTE

# Connections held at once by one participant (a bound name or key): a second window
# while the first is closing is fine, a crowd under one name is not.
CONNECTIONS_PER_PERSON = 2

# Session codes one connection may try (therapy ssh, and both doors of therapy serve): each
# wrong one is answered twice as late as the last (1, 2, 4 seconds), then the connection ends.
CODE_TRIES = 3

# therapy serve's doors (SSH, and the browser's with --web, each counted on its own): a crowd
# of connections cannot take the host's processes or memory.
SERVE_CONNECTIONS = 256  # connections at once, from everyone
SERVE_CONNECTIONS_PER_ADDRESS = 64  # from one address: an office behind one NAT, the bench's 40
# New connections from one address (an IPv6 client's /64): SERVE_CONNECTIONS_PER_ADDRESS at
# once (a room behind one NAT joins together), then one every this many seconds: each brings
# CODE_TRIES more session codes to guess, and reconnecting must not start the slowing again.
SERVE_CONNECTION_SECONDS = 3
SERVE_LOGIN_SECONDS = 30  # to finish the SSH handshake, or to send a request to the browser door
# To join a session in the app (the code, the name and the side): a connection that has not
# holds an app (40 to 56 MB) for nothing.
SERVE_JOIN_SECONDS = 120
SERVE_IDLE_SECONDS = 3600  # a connection with no byte either way for this long ends
SERVE_HANGUP_SECONDS = 3  # an app told its connection is gone has this long before it is killed

# The browser door: what a page may send, and the terminal it may ask for (a larger size is
# taken as this one: the app's screen is drawn in memory, cell by cell).
SERVE_WEB_MESSAGE_BYTES = 64 * 1024  # a larger message ends its connection, with a sentence
# What a page sends its app, in bytes a second once a burst of 16 times this is spent: more
# waits in the browser (Textual queues every key it is sent, in memory, however many come).
SERVE_WEB_INPUT_BYTES = 1024
SERVE_WEB_COLUMNS = 400  # both doors: a page, or a pty of the SSH door
SERVE_WEB_ROWS = 150

# Any terminal the app draws on, whatever size it says it is (a pty's size, a resize, an
# in-band resize report typed as keys): a larger one is drawn this large (the screen is
# drawn in memory, cell by cell; 2,000 x 2,000 is 8 MB a frame). A 4K screen in a tiny font
# is about 500 x 130.
TERMINAL_COLUMNS = 1_000
TERMINAL_ROWS = 400
