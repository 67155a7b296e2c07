"""The page's caps and defaults, in one place (`docs/pages/ui.md` lists them). Nothing is imported here, so
the command line can read its defaults without loading the page."""

#: Where the page listens: this machine only, unless --host says otherwise.
HOST = "127.0.0.1"
PORT = 7860

#: An upload larger than this is refused (by the browser, by the server, and by the page with a message).
MAX_UPLOAD_MB = 50
MAX_UPLOAD_BYTES = MAX_UPLOAD_MB * 1024 * 1024
#: An uploaded clip of more frames than this is refused: a minute at 30 fps.
MAX_UPLOAD_FRAMES = 1800
#: An uploaded .npz is refused when its arrays would take more than this once inflated.
MAX_ARRAY_BYTES = 512 * 1024 * 1024
#: Frames of the tiny decode that counts an upload's frames before anything else reads it.
PROBE_SIZE = (16, 16)

#: The largest context and horizon the page asks for (the command line takes more).
MAX_CONTEXT = 100
MAX_HORIZON = 100

#: One run at a time (two people share the CPU or GPU by taking turns), and at most this many waiting.
CONCURRENCY = 1
QUEUE_SIZE = 16

#: Uploads and results older than this are removed while the page serves (every SWEEP_SECONDS); all of them when
#: it stops.
KEEP_SECONDS = 3600
SWEEP_SECONDS = 600

#: The sample files listed from --samples DIR (at most this many, found at most this deep).
MAX_SAMPLES = 500
