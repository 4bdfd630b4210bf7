"""The Fatherland Front's back office: the moderation queue, triage, review and supervision."""
