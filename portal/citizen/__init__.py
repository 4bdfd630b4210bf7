"""The citizen's side: home page, the report form, the receipt and case tracking."""
