"""Signed e-mail: S/MIME notifications of exchange events and issued PDFs sent to units on no exchange."""
