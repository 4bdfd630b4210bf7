"""Administration: agencies, users and roles, deadline rules, holidays, canned replies."""
