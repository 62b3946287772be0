"""Statistics over the records: how far each agency has moved to electronic documents (the adoption
report). Domain code: no Flask; the web page and `docsign report` call it."""
