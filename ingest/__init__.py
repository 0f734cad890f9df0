"""Files in, clean documents and chunks out: pure functions over text."""
