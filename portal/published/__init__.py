"""Published answers: resolved cases whose reporter agreed, with the Front-reviewed text."""
