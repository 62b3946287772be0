"""docsign: digital-signature document exchange for government agencies."""

__version__ = "0.1.0"
