"""Entry point: `flask --app app run` in development, `gunicorn app:app` in production."""

import sys

from portal import ConfigError, create_app

try:
    app = create_app()
except ConfigError as error:
    sys.stderr.write(f"The portal cannot start: {error}\n")
    raise SystemExit(2) from None
