"""Serving a stored file: always as a download, never rendered by the browser, never cached.

Every caller checks first that the reader may have this file. Only a file the scan has found
clean is served (portal.quarantine): one still being checked, or refused, is not found.
"""

from __future__ import annotations

from flask import abort, current_app, send_file

from portal import uploads
from portal.models import Attachment


def send_attachment(item: Attachment | None):
    if item is None or item.status != "clean":
        abort(404)
    path = uploads.path_for(current_app.config["PORTAL_SETTINGS"].upload_dir, item.stored_name)
    if not path.exists():
        abort(404)
    return send_file(path, mimetype=item.content_type, as_attachment=True,
                     download_name=item.original_name, max_age=0)
