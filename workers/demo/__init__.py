"""`dealstream demo`: the local stack, a worker, demo traffic and a live terminal view."""
