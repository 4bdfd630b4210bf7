"""Staff sign-in, for every staff role: Front moderators and supervisors, agency staff, administrators."""
