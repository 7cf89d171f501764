"""Server-rendered pages: the public site, the operator pages, their assets."""
