"""The agency workspace: an agency's officers and head handle the cases forwarded to it."""
