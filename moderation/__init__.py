"""The Fatherland Front's back office: routing, moderation queue, review and supervision."""
