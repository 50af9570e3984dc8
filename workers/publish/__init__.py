"""`dealstream publish`: validate JSON-lines events, key them right, send the good ones."""
