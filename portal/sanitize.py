"""The one function every piece of rich text passes through before it is rendered.

The design card named bleach; bleach's maintainers ended it on 2026-06-05 with no
further releases, security fixes included, so the portal uses nh3 (the Rust
ammonia sanitiser), which is maintained.
"""

from __future__ import annotations

import nh3
from markupsafe import Markup

ALLOWED_TAGS = {"p", "br", "strong", "em", "ul", "ol", "li", "blockquote", "a"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}


def clean_html(html: str) -> Markup:
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(cleaned)  # noqa: S704 - nh3 has just removed everything unsafe
